"""Wiring: one place that builds every service from settings, shared by the API, actors and CLI."""

from __future__ import annotations

from functools import lru_cache

from sentinel.evaluation.panel import Panel
from sentinel.rubrics.loader import RubricRegistry
from sentinel.services import Services
from sentinel.settings import Settings, get_settings
from sentinel.store.backends import configured_blob_store
from sentinel.store.images import decoded_pixels
from sentinel.store.service import ImageService


def build_services(settings: Settings) -> Services:
    rubrics = RubricRegistry.from_dirs(settings.builtin_rubrics_dir, settings.rubrics_dir)
    panel = Panel.from_dirs(settings.resolved_judges_dirs)
    blobs = configured_blob_store(settings)
    decoded_pixels.configure(
        max_bytes=settings.decoded_cache_bytes,
        budget_bytes=settings.decode_memory_bytes,
        wait_seconds=settings.decode_wait_seconds,
        analysis_pixels=settings.analysis_max_pixels,
    )
    return Services(settings=settings, rubrics=rubrics, panel=panel, images=ImageService(settings, blobs))


@lru_cache
def get_services() -> Services:
    return build_services(get_settings())
