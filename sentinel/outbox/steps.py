"""The workflow's vocabulary: one function per step, building the message that asks for it.

Services write these into the outbox with the change that implies them; the actors of the same names, in
:mod:`sentinel.workflow.actors`, run them. The path of one job::

    POST /v1/jobs ─► generate_attempt ─► judge_panel ─► evaluation_judged ─┬─► generate_attempt (red)
                                                                           └─► deliver_webhook (closed)

An evaluation of its own: ``POST /v1/evaluations ─► judge_panel``, then ``deliver_webhook`` if it has a callback.

and every few seconds ``sweep`` (deadlines and recovery).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sentinel.outbox.store import Message

if TYPE_CHECKING:
    from sentinel.settings import Settings

#: Queues, by kind of work, so a backlog of judging never starves webhooks.
JUDGING, JOBS, WEBHOOKS = "judging", "jobs", "webhooks"

#: A job attempt's generation holds its message this long at most (the provider call is bounded by the job's
#: budget; this stops a wedged thread).
GENERATION_TIME_LIMIT_MS = 330_000


#: A panel message's time beyond its own work's limit: reading the evaluation, writing the votes. The judges
#: themselves abstain at their own limits; this only stops a wedged message.
PANEL_GRACE_SECONDS = 15.0


def judge_panel(evaluation_id: str, judges: list[str], work_limit_seconds: float) -> Message:
    """Ask ``judges`` for their votes on an evaluation, in one message: the image's scan for instructions to the
    vision judges, their calls started on the worker's loop, then the offline judges together on one decode of the
    image; ``work_limit_seconds`` is the longest the scan and the slowest offline judge may take."""
    return Message(
        "judge_panel",
        JUDGING,
        (evaluation_id, judges),
        {"time_limit": int((work_limit_seconds + PANEL_GRACE_SECONDS) * 1000)},
    )


def evaluation_judged(evaluation_id: str) -> Message:
    """An evaluation has its verdict: move its job on and tell its callback."""
    return Message("evaluation_judged", JUDGING, (evaluation_id,), dedupe_key=f"evaluation_judged:{evaluation_id}")


def generate_attempt(job_id: str, slot: int, number: int, *, resend: bool = False) -> Message:
    """Generate attempt ``number`` of a job's image ``slot`` and hand it to the panel. The recovery sweep
    ``resend``s one whose worker died; otherwise the attempt is asked for once, however often its cause runs."""
    return Message(
        "generate_attempt",
        JOBS,
        (job_id, slot, number),
        {"time_limit": GENERATION_TIME_LIMIT_MS},
        dedupe_key=None if resend else f"generate_attempt:{job_id}:{slot}:{number}",
    )


def deliver_webhook(
    kind: str,
    resource_id: str,
    callback_url: str | None,
    event: str,
    settings: Settings,
    *,
    delivery_id: str | None = None,
) -> list[Message]:
    """POST a finished (or decided) job or evaluation to its callback_url, retried with the configured backoff;
    nothing when it has no callback_url. The delivery's id (its ``Sentinel-Delivery`` header) is chosen here and
    travels in the message, so every retry carries the same one; a replay passes the id it sends again."""
    if not callback_url:
        return []
    delivery_id = delivery_id or f"dlv_{uuid.uuid4().hex}"
    options = {
        "max_retries": settings.webhook_max_retries,
        "min_backoff": settings.webhook_min_backoff_ms,
        "max_backoff": 600_000,
    }
    return [Message("deliver_webhook", WEBHOOKS, (kind, resource_id, event, delivery_id), options)]


def sweep(period: int) -> Message:
    """Deadlines and recovery, once per period for the whole cluster (the dedupe key is the period)."""
    return Message("sweep", JOBS, (), dedupe_key=f"sweep:{period}")
