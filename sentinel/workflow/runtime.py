"""The services a worker process's steps use, built once per process on first use."""

from __future__ import annotations

import threading
from functools import lru_cache

from sentinel.evaluation.service import EvaluationService
from sentinel.generation.service import GenerationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.service import JobService
from sentinel.outbox.relay import Relay
from sentinel.services import Services
from sentinel.webhooks.service import WebhookService
from sentinel.wiring import get_services
from sentinel.worker import broker
from sentinel.worker.loop import run_async


def services() -> Services:
    return get_services()


@lru_cache
def evaluations() -> EvaluationService:
    return EvaluationService(services())


#: lru_cache alone lets concurrent first callers each build a service (the first jobs of a burst arrive together), and
#: the ones it drops keep their provider connections open until aiohttp complains about them on stderr.
_generation_lock = threading.Lock()


@lru_cache
def _open_generation() -> GenerationService:
    # Provider adapters are async and bound to a loop: this process's background loop, which keeps connections
    # pooled across messages.
    return run_async(open_generation(services()))


def generation() -> GenerationService:
    with _generation_lock:
        return _open_generation()


def close_generation() -> None:
    """Close the generation service's provider connections, if it was built: a process that ran the workers in-process
    (``sentinel compare``) and is about to exit. The next :func:`generation` builds a new one."""
    with _generation_lock:
        if _open_generation.cache_info().currsize:
            run_async(_open_generation().close())
            _open_generation.cache_clear()


@lru_cache
def progress() -> JobProgress:
    return JobProgress(services())


@lru_cache
def jobs() -> JobService:
    return JobService(services(), generation)


@lru_cache
def attempts() -> AttemptRunner:
    return AttemptRunner(services(), evaluations(), progress(), generation)


@lru_cache
def recovery() -> JobRecovery:
    return JobRecovery(services(), progress())


@lru_cache
def webhooks() -> WebhookService:
    return WebhookService(services(), evaluations(), jobs())


@lru_cache
def relay() -> Relay:
    """This process's outbox relay (the API process and every worker process run one)."""
    settings = services().settings
    return Relay(services().engine, broker, sweep_every_seconds=settings.sweep_interval_seconds)
