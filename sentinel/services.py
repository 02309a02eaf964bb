"""The services container every domain's service is built from: settings, rubrics, the judge panel, the image
store, the database engine and the finished-work signals.

Only its type lives here, low in the layers, so every domain may take it; :mod:`sentinel.wiring` builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import Engine

from sentinel.db import engine_for
from sentinel.settings import Settings
from sentinel.telemetry.finished import FinishedSignals, RedisSignals

if TYPE_CHECKING:
    from sentinel.evaluation.panel import Panel
    from sentinel.rubrics.loader import RubricRegistry
    from sentinel.store.service import ImageService


class DatabaseAccess(Protocol):
    """What a service that only reads and writes rows needs of the services: the settings and the engine."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...


@dataclass
class DatabaseOnly:
    """The settings and the database engine, without the judges, rubrics and blob store: for a command that only
    touches rows (`sentinel keys`), which would otherwise import the judges and load every rubric first."""

    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return engine_for(self.settings)


@dataclass
class Services:
    settings: Settings
    rubrics: RubricRegistry
    panel: Panel
    images: ImageService

    @cached_property
    def engine(self) -> Engine:
        # Built on first use, so `sentinel eval` (which needs no database) never creates one.
        return engine_for(self.settings)

    @cached_property
    def finished(self) -> FinishedSignals:
        """Announces finished evaluations and jobs to the readers waiting for them (across processes on Redis)."""
        if self.settings.redis_url:
            return RedisSignals(self.settings.redis_url, self.settings.redis_namespace)
        return FinishedSignals()
