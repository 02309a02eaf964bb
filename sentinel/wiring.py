"""Wiring: one place that builds every service from settings, shared by the API, actors and CLI."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from sentinel.evaluation.panel import Panel
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import Settings, get_settings
from sentinel.store.images import decoded_pixels

if TYPE_CHECKING:
    from sentinel.services import Services


@dataclass(frozen=True)
class JudgingKit:
    """What judging in-process needs and no more: the settings, the tasks and the panel. `sentinel eval` builds
    only this, so it never loads the database layer, the blob store or the broker."""

    settings: Settings
    rubrics: RubricRegistry
    panel: Panel


def build_judging(settings: Settings) -> JudgingKit:
    rubrics = RubricRegistry.from_dirs(settings.builtin_rubrics_dir, settings.rubrics_dir)
    panel = Panel.from_dirs(settings.resolved_judges_dirs)
    decoded_pixels.configure(
        max_bytes=settings.decoded_cache_bytes,
        budget_bytes=settings.decode_memory_bytes,
        wait_seconds=settings.decode_wait_seconds,
        analysis_pixels=settings.analysis_max_pixels,
    )
    return JudgingKit(settings, rubrics, panel)


def build_services(settings: Settings) -> Services:
    # Imported here rather than at the top, on purpose: `build_judging` (the CLI's `eval`) stays free of the
    # database layer (SQLAlchemy, SQLModel) and the blob store, about half a second of start-up.
    from sentinel.services import Services
    from sentinel.store.backends import configured_blob_store
    from sentinel.store.service import ImageService

    kit = build_judging(settings)
    blobs = configured_blob_store(settings)
    return Services(settings=settings, rubrics=kit.rubrics, panel=kit.panel, images=ImageService(settings, blobs))


@lru_cache
def get_judging() -> JudgingKit:
    return build_judging(get_settings())


@lru_cache
def get_services() -> Services:
    return build_services(get_settings())
