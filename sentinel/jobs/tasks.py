"""Dramatiq actors of the jobs domain. They take ids; a redelivered message changes nothing."""

from __future__ import annotations

from functools import lru_cache

import dramatiq

from sentinel import worker  # noqa: F401  (configures the broker before the actors register)
from sentinel.evaluation.service import FINALISED_LISTENERS
from sentinel.evaluation.tasks import evaluation_service
from sentinel.jobs.service import JobService
from sentinel.providers.router import Router
from sentinel.services import get_services


class ActorJobDispatcher:
    def attempt(self, job_id: str, slot: int, number: int, guidance: str | None) -> None:
        run_job_attempt.send(job_id, slot, number, guidance)

    def expire_at(self, job_id: str, delay_seconds: float) -> None:
        expire_job.send_with_options(args=(job_id,), delay=int(delay_seconds * 1000) + 50)


@lru_cache
def _worker_router() -> Router:
    # Workers route on their own background loop; the API process passes its gateway's router instead.
    from sentinel.gateway.wiring import open_gateway
    from sentinel.worker.loop import run_async

    return run_async(open_gateway(get_services())).router


@lru_cache
def job_service() -> JobService:
    return JobService(get_services(), evaluation_service(), ActorJobDispatcher(), _worker_router)


def _on_evaluation_finalised(evaluation_id: str) -> None:
    if job_service().job_of_evaluation(evaluation_id) is not None:
        job_attempt_judged.send(evaluation_id)


FINALISED_LISTENERS.append(_on_evaluation_finalised)


@dramatiq.actor(actor_name="run_job_attempt", queue_name="jobs", max_retries=3, min_backoff=500, time_limit=330_000)
def run_job_attempt(job_id: str, slot: int, number: int, guidance: str | None) -> None:
    job_service().run_attempt(job_id, slot, number, guidance)


@dramatiq.actor(actor_name="job_attempt_judged", queue_name="jobs", max_retries=5, min_backoff=200)
def job_attempt_judged(evaluation_id: str) -> None:
    job_service().attempt_judged(evaluation_id)


@dramatiq.actor(actor_name="expire_job", queue_name="jobs", max_retries=10, min_backoff=500)
def expire_job(job_id: str) -> None:
    job_service().expire(job_id)
