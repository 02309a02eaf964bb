"""The delivery actor; the job and evaluation domains announce finished work, this one posts it."""

from __future__ import annotations

from functools import lru_cache

import dramatiq

from sentinel import worker  # noqa: F401  (configures the broker before the actors register)
from sentinel.evaluation.service import FINALISED_LISTENERS
from sentinel.jobs.service import JOB_FINISHED_LISTENERS
from sentinel.review.service import DECISION_LISTENERS
from sentinel.services import get_services
from sentinel.webhooks.service import WebhookService


@lru_cache
def webhook_service() -> WebhookService:
    return WebhookService(get_services())


def send_webhook(kind: str, resource_id: str, event: str = "finished") -> None:
    settings = get_services().settings
    deliver_webhook.send_with_options(
        args=(kind, resource_id, event),
        max_retries=settings.webhook_max_retries,
        min_backoff=settings.webhook_min_backoff_ms,
        max_backoff=600_000,
    )


@dramatiq.actor(actor_name="deliver_webhook", queue_name="webhooks")
def deliver_webhook(kind: str, resource_id: str, event: str = "finished") -> None:
    # The body is built at delivery time from the stored result, so a retry sends the final state.
    if kind == "job":
        from sentinel.jobs.tasks import job_service

        jobs = job_service()
        job, attempts = jobs.get(resource_id)
        url, data = job.callback_url, jobs.view(job, attempts)
    else:
        from sentinel.evaluation.tasks import evaluation_service

        evaluations = evaluation_service()
        evaluation, votes = evaluations.get(resource_id)
        url, data = evaluation.callback_url, evaluations.view(evaluation, votes)
    if url:
        webhook_service().deliver(kind, resource_id, url, data, event)


def _on_evaluation_finalised(evaluation_id: str) -> None:
    from sqlmodel import Session

    from sentinel.models import Evaluation

    with Session(get_services().engine) as session:
        evaluation = session.get(Evaluation, evaluation_id)
        wanted = evaluation is not None and evaluation.callback_url is not None
    if wanted:
        send_webhook("evaluation", evaluation_id)


def _on_job_finished(job_id: str, callback_url: str | None) -> None:
    if callback_url:
        send_webhook("job", job_id)


def _on_review_decision(evaluation_id: str, job_id: str | None) -> None:
    from sqlmodel import Session

    from sentinel.models import Evaluation, Job

    with Session(get_services().engine) as session:
        evaluation = session.get(Evaluation, evaluation_id)
        job = session.get(Job, job_id) if job_id else None
        evaluation_hook = evaluation is not None and evaluation.callback_url is not None
        job_hook = job is not None and job.callback_url is not None
    if evaluation_hook:
        send_webhook("evaluation", evaluation_id, "decided")
    if job_hook and job_id:
        send_webhook("job", job_id, "decided")


FINALISED_LISTENERS.append(_on_evaluation_finalised)
DECISION_LISTENERS.append(_on_review_decision)
JOB_FINISHED_LISTENERS.append(_on_job_finished)
