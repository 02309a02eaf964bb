"""The services a worker process's steps use, built once per process on first use."""

from __future__ import annotations

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


@lru_cache
def generation() -> GenerationService:
    # Provider adapters are async and bound to a loop: this process's background loop, which keeps connections
    # pooled across messages.
    return run_async(open_generation(services()))


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
