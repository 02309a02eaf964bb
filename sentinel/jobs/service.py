"""Jobs: one generation per attempt, judged by the panel; red attempts regenerate with guidance until
green, amber, out of attempts or out of budget. Every step is idempotent (a redelivered message changes
nothing) and the deadline is checked at every step."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.errors import InvalidInput, NotFound
from sentinel.evaluation.guidance import fixes_for, join_guidance, regeneration_prompt
from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.schemas import JobCreate
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import (
    ApiKey,
    Evaluation,
    Job,
    JobAttempt,
    JobState,
    ReviewDecision,
    as_utc,
    review_view,
    utcnow,
)
from sentinel.net.fetch import check_url
from sentinel.ops.finished import job_key
from sentinel.providers.base import Outcome, failure
from sentinel.providers.calls import call_rows
from sentinel.providers.router import ImageSpec, ResolvedModel, Router, RouteResult
from sentinel.rubrics.schema import Rubric, validate_params
from sentinel.services import Services
from sentinel.spend.service import SpendCapReached, SpendService

#: Called with (job id, callback_url) once a job is closed (done, failed or expired).
JOB_FINISHED_LISTENERS: list[Callable[[str, str | None], None]] = []
#: A job with no attempt after this long lost its first message.
STUCK_AFTER_SECONDS = 30.0
#: Verdicts from best to worst, for choosing an attempt and for a job's overall verdict.
VERDICT_RANK = {"green": 0, "amber": 1, "red": 2}


class JobDispatcher(Protocol):
    def attempt(self, job_id: str, slot: int, number: int, guidance: str | None) -> None: ...

    def expire_at(self, job_id: str, delay_seconds: float) -> None: ...


def guidance_from(evaluation: Evaluation) -> str:
    """What the next attempt must do differently: each failing criterion's fix, rendered with the job's params
    and the judges' measurements (never the check's wording, which an image model cannot act on)."""
    rubric = Rubric.model_validate(evaluation.rubric)
    return join_guidance(fixes_for(rubric, evaluation.result or {}, evaluation.params))


def choose(attempts: list[JobAttempt]) -> JobAttempt | None:
    """The attempt a slot hands back: the best verdict, then fewest failing judges, then most criteria passed."""
    judged = [a for a in attempts if a.verdict is not None]
    if not judged:
        return None
    return min(
        judged,
        key=lambda a: (VERDICT_RANK[a.verdict or "red"], a.failed_judges or 0, -(a.passed_criteria or 0), a.number),
    )


@dataclass(frozen=True)
class Regeneration:
    """A new attempt a reviewer asked for after rejecting an amber one."""

    job_id: str
    slot: int
    number: int
    guidance: str | None
    budget_seconds: float


def _worst(verdicts: list[str]) -> str | None:
    return max(verdicts, key=lambda v: VERDICT_RANK[v]) if verdicts else None


def record_review(
    session: Session, evaluation: Evaluation, verdict: str, reason: str, regenerate: bool, note: str | None = None
) -> Regeneration | None:
    """A person's decision on a job's amber attempt becomes that attempt's verdict, and the job's verdict follows.
    With ``regenerate`` the job reopens with a fresh budget for one more attempt on that slot. Runs inside the
    caller's transaction (the one that stores the decision)."""
    attempt = session.exec(select(JobAttempt).where(JobAttempt.evaluation_id == evaluation.id)).first()
    if attempt is None:
        return None
    attempt.verdict = verdict
    attempt.summary = f"{reason} (the panel said: {evaluation.summary})"
    session.add(attempt)
    session.flush()
    job = session.get(Job, attempt.job_id)
    assert job is not None
    attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)))
    if regenerate:
        number = max(a.number for a in attempts if a.slot == attempt.slot) + 1
        # The provider sees what to fix (failing criteria, the reviewer's note), never who reviewed.
        guidance = join_guidance([guidance_from(evaluation), note or ""])
        now = utcnow()
        session.execute(
            update(Job)
            .where(col(Job.id) == job.id)
            .values(
                state=JobState.REGENERATING,
                verdict=None,
                reason=f"{reason}; regenerating",
                finished_at=None,
                deadline_at=now + timedelta(seconds=job.budget_seconds),
                max_attempts=max(job.max_attempts, number),
            )
        )
        return Regeneration(job.id, attempt.slot, number, guidance, job.budget_seconds)
    if job.state in JobState.FINAL:
        chosen = [choose([a for a in attempts if a.slot == s]) for s in range(job.n)]
        job_verdict = _worst([c.verdict for c in chosen if c and c.verdict])
        if job_verdict == "amber":
            reason += "; another image still waits for review"
        session.execute(update(Job).where(col(Job.id) == job.id).values(verdict=job_verdict, reason=reason))
    return None


class JobService:
    def __init__(
        self, services: Services, evaluations: EvaluationService, dispatcher: JobDispatcher, router: Any
    ) -> None:
        self.services = services
        self.evaluations = evaluations
        self.dispatcher = dispatcher
        #: A Router, or a zero-argument callable returning one (workers build theirs lazily).
        self._router = router
        self.spend = SpendService(services)

    def _caller(self, key_id: str | None) -> Caller | None:
        """The job's key as the spend ledger needs it (a revoked key's jobs still stop at its cap)."""
        if key_id is None:
            return None
        with Session(self.services.engine) as session:
            key = session.get(ApiKey, key_id)
        return Caller.of(key) if key is not None else None

    @property
    def router(self) -> Router:
        return self._router() if callable(self._router) else self._router

    # -- creating and reading ---------------------------------------------------------------------

    def resolve(self, rubric: Rubric, model: str | None, params: dict[str, Any]) -> tuple[ResolvedModel, int, int]:
        """The route and image size for a job: its model (or the task's), and width/height params if given."""
        router = self.router
        resolved = router.resolve(model, rubric.id, rubric.preferred_model)
        width, height = params.get("width"), params.get("height")
        size = f"{width}x{height}" if width and height else resolved.route.sizes[0]
        w, h = router.check_size(resolved, size)
        return resolved, w, h

    def create(self, body: JobCreate, caller: Caller | None = None) -> Job:
        rubric = self.services.rubrics.get(body.task)
        if len(rubric.inputs) > 1:
            raise InvalidInput(
                f"task '{body.task}' edits a source image; jobs generate new images only (evaluate edits with "
                "POST /v1/evaluations)",
                field="task",
            )
        params = validate_params(rubric, body.params)
        resolved, _, _ = self.resolve(rubric, body.model, params)
        if body.callback_url is not None:
            check_url(body.callback_url, self.services.settings.fetch_allowed_networks, "callback_url")
        now = utcnow()
        job = Job(
            id=f"job_{uuid.uuid4().hex}",
            task=rubric.id,
            prompt=body.prompt,
            params=params,
            model=resolved.requested,
            n=body.n,
            max_attempts=body.max_attempts,
            budget_seconds=body.budget_seconds,
            callback_url=body.callback_url,
            key_id=caller.id if caller else None,
            created_at=now,
            deadline_at=now + timedelta(seconds=body.budget_seconds),
        )
        with Session(self.services.engine, expire_on_commit=False) as session:
            session.add(job)
            session.commit()
        for slot in range(job.n):
            self.dispatcher.attempt(job.id, slot, 1, None)
        self.dispatcher.expire_at(job.id, body.budget_seconds)
        return job

    def get(self, job_id: str, caller: Caller | None = None) -> tuple[Job, list[JobAttempt]]:
        """A job and its attempts; another tenant's is not found (``caller`` None: every job is visible)."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            job = session.exec(visible(select(Job).where(Job.id == job_id), Job.key_id, caller)).first()
            if job is None:
                raise NotFound(f"no job with id '{job_id}'", field="id")
            attempts = list(
                session.exec(
                    select(JobAttempt)
                    .where(JobAttempt.job_id == job_id)
                    .order_by(col(JobAttempt.slot), col(JobAttempt.number))
                )
            )
        if job.state not in JobState.FINAL and as_utc(job.deadline_at) <= utcnow():
            # The expiry message may have died with a broker; a reader closes the job on time anyway.
            self.expire(job_id)
            return self.get(job_id, caller)
        return job, attempts

    def list(
        self, task: str | None, verdict: str | None, state: str | None, limit: int, caller: Caller | None = None
    ) -> list[Job]:
        """The newest jobs of the caller's tenant (``caller`` None: of everyone)."""
        query = visible(select(Job).order_by(col(Job.created_at).desc()).limit(limit), Job.key_id, caller)
        if task:
            query = query.where(Job.task == task)
        if verdict:
            query = query.where(Job.verdict == verdict)
        if state:
            query = query.where(Job.state == state)
        with Session(self.services.engine) as session:
            return list(session.exec(query))

    def _decisions(self, attempts: list[JobAttempt]) -> dict[str, ReviewDecision]:
        ids = [a.evaluation_id for a in attempts if a.evaluation_id]
        if not ids:
            return {}
        with Session(self.services.engine) as session:
            rows = session.exec(select(ReviewDecision).where(col(ReviewDecision.evaluation_id).in_(ids)))
            return {d.evaluation_id: d for d in rows}

    def view(self, job: Job, attempts: list[JobAttempt]) -> dict[str, Any]:
        images = self.services.images
        decisions = self._decisions(attempts)
        body: dict[str, Any] = {
            "id": job.id,
            "object": "job",
            "task": job.task,
            "prompt": job.prompt,
            "params": job.params,
            "model": job.model,
            "n": job.n,
            "max_attempts": job.max_attempts,
            "budget_seconds": job.budget_seconds,
            "state": job.state,
            "verdict": job.verdict,
            "reason": job.reason,
            "created_at": as_utc(job.created_at).isoformat(),
            "deadline_at": as_utc(job.deadline_at).isoformat(),
            "finished_at": as_utc(job.finished_at).isoformat() if job.finished_at else None,
            "attempts": [
                {
                    "slot": a.slot,
                    "number": a.number,
                    "state": a.state,
                    "provider": a.provider,
                    "model": a.provider_model,
                    "image": {"id": a.image_id, "url": images.url(a.image_id)} if a.image_id else None,
                    "evaluation_id": a.evaluation_id,
                    # The summary is the reasoning in one line; every judge's vote is one link away.
                    "evaluation_url": f"/v1/evaluations/{a.evaluation_id}" if a.evaluation_id else None,
                    "verdict": a.verdict,
                    "failed_judges": a.failed_judges,
                    "summary": a.summary,
                    # Exactly what the provider was asked: the job's prompt, plus the fixes on a regeneration.
                    "prompt": a.prompt,
                    "guidance": a.guidance,
                    # A person's decision on an amber attempt; its verdict above is then the human one.
                    "review": review_view(decisions[a.evaluation_id]) if a.evaluation_id in decisions else None,
                    "error": a.error,
                    "generation_ms": a.generation_ms,
                    "started_at": as_utc(a.started_at).isoformat(),
                    "finished_at": as_utc(a.finished_at).isoformat() if a.finished_at else None,
                }
                for a in attempts
            ],
            "result": None,
        }
        if job.state in JobState.FINAL:
            chosen = []
            for slot in range(job.n):
                best = choose([a for a in attempts if a.slot == slot])
                chosen.append(
                    {
                        "slot": slot,
                        "attempt": best.number if best else None,
                        "image": {"id": best.image_id, "url": images.url(best.image_id)}
                        if best and best.image_id
                        else None,
                        "verdict": best.verdict if best else None,
                        "summary": best.summary if best else None,
                        "passing": bool(best and best.verdict == "green"),
                    }
                )
            body["result"] = {"images": chosen}
        return body

    def dispatch_regeneration(self, regeneration: Regeneration) -> None:
        self.dispatcher.attempt(regeneration.job_id, regeneration.slot, regeneration.number, regeneration.guidance)
        self.dispatcher.expire_at(regeneration.job_id, regeneration.budget_seconds)

    # -- worker side ------------------------------------------------------------------------------

    def run_attempt(self, job_id: str, slot: int, number: int, guidance: str | None) -> None:
        """Generate one attempt's image and hand it to the panel. Safe to run twice."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            job = session.get(Job, job_id)
            if job is None or job.state in JobState.FINAL:
                return
            if as_utc(job.deadline_at) <= utcnow():
                self.expire(job_id)
                return
            prompt = regeneration_prompt(job.prompt, guidance)
            insert_unless_present(
                session,
                JobAttempt,
                {
                    "job_id": job_id,
                    "slot": slot,
                    "number": number,
                    "prompt": prompt,
                    "guidance": guidance,
                    "state": "generating",
                },
                ["job_id", "slot", "number"],
            )
            attempt = session.exec(
                select(JobAttempt).where(
                    JobAttempt.job_id == job_id, JobAttempt.slot == slot, JobAttempt.number == number
                )
            ).one()
            now = utcnow()
            remaining = (as_utc(job.deadline_at) - now).total_seconds()
            # The lease makes one worker the generator: a duplicate delivery must not pay the provider twice.
            leased = (
                session.execute(
                    update(JobAttempt)
                    .where(
                        col(JobAttempt.id) == attempt.id,
                        col(JobAttempt.state) == "generating",
                        col(JobAttempt.image_id).is_(None),
                        (col(JobAttempt.lease_until).is_(None)) | (col(JobAttempt.lease_until) < now),
                    )
                    .values(
                        lease_until=now
                        + timedelta(seconds=min(remaining, self.services.settings.generation_lease_seconds))
                    )
                ).rowcount
                == 1
            )  # type: ignore[attr-defined]
            if not leased:
                session.commit()
                return  # another delivery is generating it, or it already has its image
            self._set_state(session, job_id, JobState.GENERATING if number == 1 else JobState.REGENERATING)
            session.commit()
        rubric = self.services.rubrics.get(job.task)
        resolved, width, height = self.resolve(rubric, job.model, job.params)
        spec = ImageSpec(prompt=prompt, width=width, height=height, seed=random.randrange(2**31))
        remaining = min(
            (as_utc(job.deadline_at) - utcnow()).total_seconds(), self.services.settings.generation_lease_seconds
        )
        from sentinel.worker.loop import run_async

        request_id = f"{job_id}:{slot}:{number}"
        most = self.router.most_expensive(resolved, spec)
        try:
            reservation = self.spend.reserve(self._caller(job.key_id), most, request_id)
        except SpendCapReached as exc:
            result = RouteResult(None, [], failure(Outcome.INVALID_REQUEST, exc.message))
        else:
            result = RouteResult(None)
            try:
                result = run_async(self._generate(resolved, spec, remaining, number - 1))
            finally:
                # Only a delivered image costs anything; the rest of the reservation goes back to the cap.
                self.spend.settle(reservation, sum(a.cost for a in result.attempts))
        image = result.image
        with Session(self.services.engine, expire_on_commit=False) as session:
            attempt = session.get(JobAttempt, attempt.id)
            assert attempt is not None
            attempt.generation_ms = round(sum(a.latency_ms for a in result.attempts), 1)
            # Jobs pay providers as the gateway does: their calls go to the same log the dashboard reads.
            image_id = image.info.sha256 if image is not None else None
            session.add_all(call_rows(job_id, resolved.requested, result.attempts, image_id))
            if image is None:
                attempt.state = "failed"
                attempt.error = result.last_failure.message if result.last_failure else "no provider could serve it"
                attempt.finished_at = utcnow()
                session.add(attempt)
                session.commit()
                self._next_or_finish(job_id, slot, number, guidance)
                return
            attempt.provider, attempt.provider_model = image.provider, image.model
            session.add(attempt)
            session.commit()
        params = self._judged_params(rubric, job, width, height)
        submission = self.evaluations.validate(job.task, params, {"image": image.data})
        evaluation = self.evaluations.submit(submission, job.key_id)
        with Session(self.services.engine) as session:
            session.execute(
                update(JobAttempt)
                .where(col(JobAttempt.id) == attempt.id)
                .values(state="judging", image_id=image.info.sha256, evaluation_id=evaluation.id)
            )
            self._set_state(session, job_id, JobState.JUDGING)
            session.commit()

    @staticmethod
    def _judged_params(rubric: Rubric, job: Job, width: int, height: int) -> dict[str, Any]:
        """The params the panel judges an attempt by: the job's, plus the size asked of the provider where the task
        takes one (a 192×128 image delivered for 1536×1024 must fail, and the judge can only tell if it knows)."""
        params = dict(job.params)
        for name, value in (("width", width), ("height", height)):
            if name in rubric.params and params.get(name) is None:
                params[name] = value
        return params

    async def _generate(
        self, resolved: ResolvedModel, spec: ImageSpec, remaining: float, regeneration: int
    ) -> RouteResult:
        try:
            generation = self.router.generate(resolved, spec, regeneration)
            return await asyncio.wait_for(generation, timeout=max(0.01, remaining))
        except TimeoutError:
            return RouteResult(None, [], failure(Outcome.TIMEOUT, "the job's budget ran out during generation"))

    def job_of_evaluation(self, evaluation_id: str) -> str | None:
        """The job whose attempt this evaluation judged, if any."""
        with Session(self.services.engine) as session:
            query = select(JobAttempt.job_id).where(JobAttempt.evaluation_id == evaluation_id)
            return session.exec(query).first()

    def attempt_judged(self, evaluation_id: str) -> None:
        """Record a verdict on its attempt, then regenerate, or close the slot. Safe to run twice."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            attempt = session.exec(select(JobAttempt).where(JobAttempt.evaluation_id == evaluation_id)).first()
            evaluation = session.get(Evaluation, evaluation_id)
            if attempt is None or evaluation is None or evaluation.verdict is None:
                return
            passed = sum(c["passed"] for j in (evaluation.result or {}).get("judges", []) for c in j["criteria"])
            won = (
                session.execute(
                    update(JobAttempt)
                    .where(col(JobAttempt.id) == attempt.id, col(JobAttempt.state) == "judging")
                    .values(
                        state="judged",
                        verdict=evaluation.verdict,
                        failed_judges=evaluation.failed_judges,
                        passed_criteria=passed,
                        summary=evaluation.summary,
                        finished_at=utcnow(),
                    )
                ).rowcount
                == 1
            )  # type: ignore[attr-defined]
            session.commit()
        if not won:
            return
        if evaluation.verdict == "red":
            self._next_or_finish(attempt.job_id, attempt.slot, attempt.number, guidance_from(evaluation))
        else:
            self._finish_if_complete(attempt.job_id)

    def _next_or_finish(self, job_id: str, slot: int, number: int, guidance: str | None) -> None:
        """After a red or failed attempt: the next attempt while attempts and budget last, else close."""
        with Session(self.services.engine) as session:
            job = session.get(Job, job_id)
            if job is None or job.state in JobState.FINAL:
                return
            has_time = as_utc(job.deadline_at) > utcnow()
            if number < job.max_attempts and has_time:
                self._set_state(session, job_id, JobState.REGENERATING)
                session.commit()
                self.dispatcher.attempt(job_id, slot, number + 1, guidance)
                return
        if not has_time:
            self.expire(job_id)
        else:
            self._finish_if_complete(job_id)

    @staticmethod
    def _slot_done(job: Job, attempts: list[JobAttempt]) -> bool:
        if any(a.verdict in ("green", "amber") for a in attempts):
            return True
        if not attempts:
            return False
        latest = max(attempts, key=lambda a: a.number)
        return latest.state in ("judged", "failed") and latest.number >= job.max_attempts

    def _finish_if_complete(self, job_id: str) -> None:
        job, attempts = self.get(job_id)
        if job.state in JobState.FINAL:
            return
        slots = [[a for a in attempts if a.slot == s] for s in range(job.n)]
        if not all(self._slot_done(job, slot) for slot in slots):
            return
        chosen = [choose(slot) for slot in slots]
        if not any(chosen):
            self._close(job_id, JobState.FAILED, None, "no image could be generated")
            return
        verdict = _worst([c.verdict for c in chosen if c and c.verdict])
        assert verdict is not None
        reason = {
            "green": "every image passed",
            "amber": "one judge objected to an image: it waits for review",
            "red": "no attempt passed within max_attempts; the best attempt is returned, marked red",
        }[verdict]
        self._close(job_id, JobState.DONE, verdict, reason)

    def expire(self, job_id: str) -> None:
        """The budget ran out: close the job with what it has."""
        job, attempts = self.get_raw(job_id)
        if job is None or job.state in JobState.FINAL:
            return
        if as_utc(job.deadline_at) > utcnow():
            return  # a message for an earlier deadline: a reviewer's regeneration gave the job a new budget
        chosen = [choose([a for a in attempts if a.slot == s]) for s in range(job.n)]
        verdict = _worst([c.verdict for c in chosen if c and c.verdict])
        self._close(
            job_id,
            JobState.EXPIRED,
            verdict,
            f"the budget of {job.budget_seconds:g} s ran out after {len(attempts)} attempt(s)",
        )

    def get_raw(self, job_id: str) -> tuple[Job | None, list[JobAttempt]]:
        with Session(self.services.engine, expire_on_commit=False) as session:
            job = session.get(Job, job_id)
            attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job_id)))
        return job, attempts

    def _close(self, job_id: str, state: str, verdict: str | None, reason: str) -> bool:
        with Session(self.services.engine) as session:
            result = session.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.state).not_in(list(JobState.FINAL)))
                .values(state=state, verdict=verdict, reason=reason, finished_at=utcnow())
            )
            won = result.rowcount == 1  # type: ignore[attr-defined]
            session.commit()
            job = session.get(Job, job_id)
        if won:
            self.services.finished.announce(job_key(job_id))
        if won and job is not None:
            for listener in JOB_FINISHED_LISTENERS:
                listener(job_id, job.callback_url)
        return won

    @staticmethod
    def _set_state(session: Session, job_id: str, state: str) -> None:
        session.execute(
            update(Job).where(col(Job.id) == job_id, col(Job.state).not_in(list(JobState.FINAL))).values(state=state)
        )

    # -- recovery ---------------------------------------------------------------------------------

    def sweep(self) -> dict[str, int]:
        """Find jobs that stopped moving (a worker died, a message was lost) and resume or expire them."""
        now = utcnow()
        counts = {"expired": 0, "resumed": 0, "judged": 0}
        with Session(self.services.engine, expire_on_commit=False) as session:
            jobs = list(session.exec(select(Job).where(col(Job.state).not_in(list(JobState.FINAL)))))
            attempts = (
                list(session.exec(select(JobAttempt).where(col(JobAttempt.job_id).in_([j.id for j in jobs]))))
                if jobs
                else []
            )
        for job in jobs:
            if as_utc(job.deadline_at) <= now:
                self.expire(job.id)
                counts["expired"] += 1
                continue
            for slot in range(job.n):
                mine = [a for a in attempts if a.job_id == job.id and a.slot == slot]
                if not mine:
                    if (now - as_utc(job.created_at)).total_seconds() > STUCK_AFTER_SECONDS:
                        self.dispatcher.attempt(job.id, slot, 1, None)
                        counts["resumed"] += 1
                    continue
                latest = max(mine, key=lambda a: a.number)
                lease_over = latest.lease_until is None or as_utc(latest.lease_until) < now
                if latest.state == "generating" and latest.image_id is None and lease_over:
                    self.dispatcher.attempt(job.id, slot, latest.number, latest.guidance)
                    counts["resumed"] += 1
                elif latest.state == "judging" and latest.evaluation_id:
                    evaluation, _ = self.evaluations.get(latest.evaluation_id)
                    if evaluation.verdict is not None:
                        self.attempt_judged(latest.evaluation_id)
                        counts["judged"] += 1
                elif latest.state in ("judged", "failed") and latest.verdict in (None, "red"):
                    idle = (now - as_utc(latest.finished_at or latest.started_at)).total_seconds()
                    if idle > STUCK_AFTER_SECONDS:
                        # The next attempt's message was lost (or the job was never closed): carry on.
                        guidance = latest.guidance
                        if latest.evaluation_id:
                            guidance = guidance_from(self.evaluations.get(latest.evaluation_id)[0]) or guidance
                        self._next_or_finish(job.id, slot, latest.number, guidance)
                        counts["resumed"] += 1
            self._finish_if_complete(job.id)
        return counts
