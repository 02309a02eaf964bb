"""Dramatiq actors of the evaluation domain. They take ids, and running one twice changes nothing."""

from __future__ import annotations

import logging
from functools import lru_cache

import dramatiq
from dramatiq.middleware import TimeLimitExceeded

from sentinel import worker  # noqa: F401  (configures the broker before the actors register)
from sentinel.evaluation.runner import abstention
from sentinel.evaluation.service import EvaluationService
from sentinel.services import get_services
from sentinel.store.images import releasing_memory

logger = logging.getLogger(__name__)


class ActorDispatcher:
    def judge(self, evaluation_id: str, judge: str, time_limit_seconds: float) -> None:
        judge_evaluation.send_with_options(
            args=(evaluation_id, judge, time_limit_seconds),
            time_limit=int(time_limit_seconds * 1000),
        )

    def finalise_later(self, evaluation_id: str, delay_seconds: float) -> None:
        finalise_evaluation.send_with_options(args=(evaluation_id,), delay=int(delay_seconds * 1000) + 50)


@lru_cache
def evaluation_service() -> EvaluationService:
    return EvaluationService(get_services(), ActorDispatcher())


@dramatiq.actor(actor_name="judge_evaluation", queue_name="judging", max_retries=5, min_backoff=200)
def judge_evaluation(evaluation_id: str, judge: str, time_limit_seconds: float) -> None:
    service = evaluation_service()
    with releasing_memory():
        try:
            service.process_judge_message(evaluation_id, judge)
        except TimeLimitExceeded:
            service.record_vote(
                evaluation_id, abstention(judge, f"took longer than its {time_limit_seconds:g} s limit")
            )


@dramatiq.actor(actor_name="finalise_evaluation", queue_name="judging", max_retries=10, min_backoff=500)
def finalise_evaluation(evaluation_id: str) -> None:
    if evaluation_service().finalise(evaluation_id, deadline_passed=True):
        logger.info("evaluation %s finalised at its deadline", evaluation_id)
