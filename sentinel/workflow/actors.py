"""Every step of the workflow, in the order a job meets them. ``dramatiq sentinel.workflow.actors`` runs them all.

Each actor takes ids, calls one service, and is safe to run twice. The service writes the next step's message
into the outbox in the same transaction as its change; the relay (one per process) sends it. A job's path::

    POST /v1/jobs              JobService.create: the job, its attempt rows, generate_attempt per image
    generate_attempt           AttemptRunner.run: lease, generate (GenerationService), store the image with its
                               evaluation and one judge_panel; or the attempt failed: as if red
    judge_panel                EvaluationService.process_panel_message: one message per evaluation asks every
                               judge. Once the image's scan for instructions to them is done, the vision judges'
                               calls start on the worker's loop; the offline judges run
                               together on one decode of the image, each held to its own limit, and their votes
                               are written in one transaction. The last vote in writes the verdict with
                               evaluation_judged (only when a job's attempt waits for it) and deliver_webhook
                               (an evaluation's own callback). Escalation judges, the sweep's re-sends and
                               recovery ask with the same message, naming only the judges they want.
    evaluation_judged          JobProgress.on_verdict: red → generate_attempt for the next attempt; otherwise,
                               or out of attempts, the job closes with deliver_webhook
    deliver_webhook            WebhookService.deliver_event: POST the stored result, retried with backoff
    sweep                      every few seconds: deadlines, and work a dead worker or lost message left behind
"""

from __future__ import annotations

import gc
import logging

import dramatiq
from dramatiq.middleware import TimeLimitExceeded

from sentinel.evaluation.runner import ProcessExiting, abstention
from sentinel.generation.service import ImageNotRecorded
from sentinel.outbox import steps
from sentinel.store.blobs import BlobStoreError
from sentinel.store.heap import keep_freed_buffers
from sentinel.store.images import releasing_memory
from sentinel.worker import broker
from sentinel.workflow import runtime

logger = logging.getLogger(__name__)


class OutboxRelayMiddleware(dramatiq.Middleware):
    """Every worker process relays the messages its steps write (and asks for the cluster's sweep)."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        runtime.relay().start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        runtime.relay().stop()


class KeepFreedBuffers(dramatiq.Middleware):
    """Each worker process keeps image-sized freed buffers in its heap, as the API process does
    (:mod:`sentinel.store.heap`): a judge's decode then reuses the last one's pages instead of faulting in fresh ones
    (1,000-4,000 page faults per evaluation otherwise). Idle workers still hand their heap back (``release_to_os``)."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        keep_freed_buffers()


class FreezeStartupObjects(dramatiq.Middleware):
    """What a worker process made at start-up (modules, the broker, the database's metadata: ~140,000 objects) is
    moved out of the cyclic garbage collector's reach. Its full collections walked them all each time: one in a burst
    of vision calls (bench vision) held the GIL, and every call waiting on the event loop, for ~150 ms (~50 ms with
    them frozen). Frozen objects are still freed when their last reference goes; only cycles among them that die
    later are never collected, and start-up's objects live as long as the process."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        gc.collect()
        gc.freeze()


broker.add_middleware(OutboxRelayMiddleware())
broker.add_middleware(KeepFreedBuffers())
broker.add_middleware(FreezeStartupObjects())


@dramatiq.actor(actor_name="generate_attempt", queue_name=steps.JOBS, max_retries=3, min_backoff=500, broker=broker)
def generate_attempt(job_id: str, slot: int, number: int) -> None:
    try:
        runtime.attempts().run(job_id, slot, number)
    except BlobStoreError as exc:
        if exc.status_code != 503:
            raise
        # Expected while the store is away or full, and retried with backoff (an image already paid for is kept
        # and stored by the retry, not generated again): one line, not a traceback per try.
        logger.warning("attempt %d of slot %d of job %s waits for the blob store: %s", number, slot, job_id, exc)
        raise dramatiq.Retry(exc.message) from exc
    except ImageNotRecorded as exc:
        # The same while the database is away: the image paid for and its calls are kept, and logged by the retry.
        logger.warning("attempt %d of slot %d of job %s waits for the database: %s", number, slot, job_id, exc)
        raise dramatiq.Retry(exc.message) from exc


def _judged_again(evaluation_id: str, exc: TimeLimitExceeded) -> None:
    """A judging message stopped at its time limit while it waited on a stalled database, not on its judges: no
    judge is blamed (an abstention "took longer than its limit" would make the verdict amber, sending a person to
    review an image nothing was found wrong with). Judging is free to redo: the message is retried, and judged once
    the database answers again."""
    logger.warning(
        "evaluation %s: its judging waited on the database past the message's time limit; it is judged again",
        evaluation_id,
    )
    raise dramatiq.Retry("the database did not answer within the judging message's time limit") from exc


@dramatiq.actor(actor_name="judge_panel", queue_name=steps.JUDGING, max_retries=5, min_backoff=200, broker=broker)
def judge_panel(evaluation_id: str, judges: list[str]) -> None:
    evaluations = runtime.evaluations()
    with releasing_memory():
        try:
            evaluations.process_panel_message(evaluation_id, judges)
        except TimeLimitExceeded as exc:
            if evaluations.overran_on_database():
                _judged_again(evaluation_id, exc)
            evaluations.abstain_overran(evaluation_id, judges)
        except ProcessExiting as exc:
            # Not an error: the message goes back to the queue (the embedded broker's evaluation is resumed at the
            # next start), one line instead of a traceback.
            logger.info("evaluation %s: %s; its judging is given back", evaluation_id, exc)
            raise dramatiq.Retry(str(exc)) from exc


@dramatiq.actor(actor_name="judge_evaluation", queue_name=steps.JUDGING, max_retries=5, min_backoff=200, broker=broker)
def judge_evaluation(evaluation_id: str, judge: str, time_limit_seconds: float) -> None:
    """One judge's message, as written before panel messages existed: kept so those still queued at an upgrade
    are judged (a panel of one)."""
    evaluations = runtime.evaluations()
    with releasing_memory():
        try:
            evaluations.process_judge_message(evaluation_id, judge)
        except TimeLimitExceeded as exc:
            if evaluations.overran_on_database():
                _judged_again(evaluation_id, exc)
            limit = f"took longer than its {time_limit_seconds:g} s limit"
            evaluations.record_vote(evaluation_id, abstention(judge, limit))


@dramatiq.actor(
    actor_name="evaluation_judged", queue_name=steps.JUDGING, max_retries=10, min_backoff=200, broker=broker
)
def evaluation_judged(evaluation_id: str) -> None:
    runtime.progress().on_verdict(evaluation_id)


@dramatiq.actor(actor_name="deliver_webhook", queue_name=steps.WEBHOOKS, broker=broker)
def deliver_webhook(kind: str, resource_id: str, event: str = "finished", delivery_id: str | None = None) -> None:
    # Messages written before delivery ids existed carry none; the service derives one for them.
    runtime.webhooks().deliver_event(kind, resource_id, event, delivery_id)


def _judging_waiting() -> int:
    """Judge messages the broker holds that no worker has taken yet; 0 when the broker cannot say (its sends wait
    in the outbox then, and the sweep behaves as it did before it asked)."""
    from sentinel.ops.metrics import waiting_messages

    try:
        return waiting_messages(steps.JUDGING)
    except Exception as exc:
        logger.warning("the judging queue's depth is unknown (%s): stalled evaluations are judged by time alone", exc)
        return 0


@dramatiq.actor(actor_name="sweep", queue_name=steps.JOBS, max_retries=0, broker=broker)
def sweep() -> None:
    """Deadlines and recovery for the whole cluster, once per period (the relays ask; the outbox keeps one)."""
    stalled_after = runtime.services().settings.evaluation_stalled_seconds
    for name, counts in (
        ("evaluation", runtime.evaluations().sweep(stalled_after, judging_waiting=_judging_waiting())),
        ("job", runtime.recovery().sweep()),
    ):
        if any(counts.values()):
            logger.info("%s sweep: %s", name, counts)
    runtime.relay().forget_sent()
