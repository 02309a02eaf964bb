"""Jobs: generate images for a task, judge each, regenerate red ones with guidance within a budget.

This module creates and reads jobs; :mod:`~sentinel.jobs.attempts` runs an attempt, :mod:`~sentinel.jobs.progress`
moves a job on after each, :mod:`~sentinel.jobs.recovery` finds jobs that stopped moving, and
:mod:`sentinel.workflow.actors` ties the steps together. Reads never change anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from sentinel.db import autocommit, keyset
from sentinel.errors import InvalidInput, NotFound
from sentinel.evaluation.judges.pixels import MinSizeSettings
from sentinel.evaluation.listing import DEFAULT_LIMIT, MAX_LIMIT, Page
from sentinel.evaluation.rubric import Rubric, validate_params
from sentinel.evaluation.service import EDIT_INPUTS, check_edit_inputs, check_mask_fits
from sentinel.generation.service import GenerationService
from sentinel.idempotency.service import IdempotencyService, JobOfClaim, RecordedAnswer
from sentinel.jobs.clock import now_to_write
from sentinel.jobs.export import JobFilter, job_query
from sentinel.jobs.masks import from_openai
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.views import JobViews
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import Job, JobAttempt, utcnow
from sentinel.net.fetch import check_url
from sentinel.providers.base import Operation
from sentinel.providers.router import ResolvedModel
from sentinel.services import Services
from sentinel.store.images import ImageInfo
from sentinel.store.mask_region import check_marks_region

#: What the API answers for a new job, kept with it when the request carried an Idempotency-Key.
Answer = tuple[int, dict[str, Any], dict[str, str]]


def is_edit(rubric: Rubric) -> bool:
    """Whether the task edits a source image (under a mask) rather than generating a new one."""
    return "source" in rubric.inputs


@dataclass(frozen=True)
class Checked:
    """A job request checked as far as it can be without image bytes."""

    rubric: Rubric
    params: dict[str, Any]
    model: ResolvedModel


class JobService:
    def __init__(self, services: Services, generation: Callable[[], GenerationService]) -> None:
        self.services = services
        #: The router behind it checks a job's model and size before anything is stored.
        self._generation = generation
        self.progress = JobProgress(services)
        self.views = JobViews(services)
        self.idempotency = IdempotencyService(services)

    def precheck(self, body: JobCreate, given: Collection[str], size_field: str = "params.width") -> Checked:
        """Everything about a job that needs no image bytes: the task, its params, the model and size, the
        callback, and which edit inputs were sent (``given`` names them). A job whose inputs come by URL is
        checked before anything is fetched. ``size_field``: the caller's name for the size asked for (a job body's
        params, or the images API's ``size`` that a judged edit turned into them)."""
        rubric = self.services.rubrics.get(body.task)
        # Refused before any generation is paid for: its evaluation could not be judged on every criterion.
        self.services.panel.check_can_judge(rubric)
        check_edit_inputs(rubric, given)
        params = validate_params(rubric, body.params)
        width, height = params.get("width"), params.get("height")
        size = f"{width}x{height}" if width and height else None
        generation = self._generation()
        try:
            resolved, width, height = generation.resolve(body.model, rubric.id, size)
        except InvalidInput as exc:
            if exc.field != "size" or size_field == "size":
                raise
            # A job body has no `size`: the size is its params' width and height, named as the caller sent them.
            said = exc.message.replace(f"size '{size}'", f"the size params.width x params.height ask for ({size})")
            raise InvalidInput(said, field=size_field) from exc
        if not is_edit(rubric) or size is not None:
            # An edit without a size keeps its source's, checked against the source once its bytes are read.
            check_reachable_size(rubric, width, height, asked=size is not None)
        if is_edit(rubric):
            # A model none of whose candidates can edit is refused now, not after the budget ran out.
            resolved = generation.router.for_operation(resolved, Operation.EDIT)
        if body.callback_url is not None:
            check_url(body.callback_url, self.services.settings.fetch_allowed_networks, "callback_url")
        return Checked(rubric, params, resolved)

    def create(
        self,
        body: JobCreate,
        caller: Caller | None = None,
        answered: RecordedAnswer | None = None,
        inputs: dict[str, bytes] | None = None,
        size_field: str = "params.width",
        claimed: JobOfClaim | None = None,
    ) -> Job:
        """Store the job (with an edit task's ``inputs``, ``source`` and ``mask`` bytes, owned by the caller's key)
        and ask for its first attempts, in one transaction; with ``answered`` (a claimed Idempotency-Key) the
        answer is stored in it too, so a retry can never make a second job; with ``claimed`` (the key of a request
        that waits for the job's result) the job is written on the claim, for a retry that takes it over."""
        inputs = inputs or {}
        checked = self.precheck(body, inputs.keys(), size_field)
        images = self._inspect(inputs, checked.rubric)
        width, height = checked.params.get("width"), checked.params.get("height")
        if "source" in images and width and height:
            check_edit_size(images["source"][0], (width, height), "params.width")
        key_id = caller.id if caller else None
        made = Job(
            id=f"job_{uuid.uuid4().hex}",
            task=checked.rubric.id,
            prompt=body.prompt,
            params=checked.params,
            model=checked.model.requested,
            n=body.n,
            max_attempts=body.max_attempts,
            budget_seconds=body.budget_seconds,
            seed=body.seed,
            callback_url=body.callback_url,
            source_image_id=images["source"][0].sha256 if "source" in images else None,
            mask_image_id=images["mask"][0].sha256 if "mask" in images else None,
            key_id=key_id,
            deadline_at=utcnow(),  # replaced below, by the database's clock
        )
        with Session(self.services.engine, expire_on_commit=False) as session:
            for info, data in images.values():
                self.services.images.store(session, info, data, key_id)
            # The budget starts now by the database's clock, which every worker judges it by (a process whose clock
            # runs a minute off gave its jobs a budget a minute short or long), written by the INSERT itself.
            now = now_to_write(session)
            values = {column.key: getattr(made, column.key) for column in Job.__table__.columns}
            values |= {"created_at": now, "deadline_at": now + timedelta(seconds=body.budget_seconds)}
            job = session.scalars(insert(Job).values(**values).returning(Job)).one()
            for slot in range(job.n):
                self.progress.queue_attempt(session, job, slot, 1, None)
            if answered is not None:
                answered.store(session, self.answer(job))
            if claimed is not None:
                claimed.note(session, job.id)
            session.commit()
        return job

    def openai_edit_inputs(
        self, task: str, image: bytes, mask: bytes | None, size: tuple[int, int] | None = None
    ) -> dict[str, bytes]:
        """An OpenAI-shaped edit's image and mask as a job's inputs: the mask checked, then turned into the task's
        convention (OpenAI's marks the region to change, transparent or white; a rubric may mark what to keep).
        ``size``, the edit's own, is checked against the image (a 400 naming ``size``)."""
        rubric = self.services.rubrics.get(task)
        if size is not None:
            check_edit_size(self.services.images.inspect(image, "image"), size, "size")
        inputs = {"source": image}
        if mask is not None:
            self.services.images.inspect(mask, "mask")
            if is_edit(rubric):
                # Read the OpenAI way (before it is turned into the task's convention), so the refusal says why.
                check_marks_region(mask, "change", judged=True)
            inputs["mask"] = from_openai(rubric, mask) if is_edit(rubric) else mask
        return inputs

    def _inspect(self, inputs: dict[str, bytes], rubric: Rubric) -> dict[str, tuple[ImageInfo, bytes]]:
        """Each edit input decoded-checked under the image limits, and a mask of its source's size that marks a
        region (one that marks nothing, or everything, is red for every attempt: no regeneration can fix it)."""
        images = {
            name: (self.services.images.inspect(inputs[name], name), inputs[name])
            for name in EDIT_INPUTS
            if name in inputs
        }
        check_mask_fits({name: info for name, (info, _) in images.items()})
        if "mask" in images:
            check_marks_region(images["mask"][1], rubric.mask_marks, judged=True)
        return images

    def answer(self, job: Job) -> Answer:
        return 202, self.view(job, []), {"Location": f"/v1/jobs/{job.id}"}

    def get(self, job_id: str, caller: Caller | None = None) -> tuple[Job, list[JobAttempt]]:
        """A job and its attempts; another tenant's is not found (``caller`` None: every job is visible)."""
        # Reads only, without a transaction (a webhook's delivery reads what it sends here): a read-only session
        # ended in ROLLBACK, at which psycopg forgets the pooled connection's prepared statements. One statement,
        # so the job and its attempts are read as of one moment: read apart, a step committed between the two
        # reads showed an attempt's verdict beside the job's verdict from before it.
        query = (
            select(Job, JobAttempt)
            .join(JobAttempt, col(JobAttempt.job_id) == col(Job.id), isouter=True)
            .where(Job.id == job_id)
            .order_by(col(JobAttempt.slot), col(JobAttempt.number))
        )
        with Session(autocommit(self.services.engine), expire_on_commit=False) as session:
            rows = list(session.exec(visible(query, Job.key_id, caller)))
        if not rows:
            raise NotFound(f"no job with id '{job_id}'", field="id")
        return rows[0][0], [attempt for _, attempt in rows if attempt is not None]

    def cancel(self, job_id: str, caller: Caller | None = None) -> tuple[Job, list[JobAttempt]]:
        """Stop the job (see :meth:`JobProgress.cancel`) and read it as it now is; another tenant's is not found,
        one that ended on its own is :class:`~sentinel.jobs.errors.JobFinished`. Safe to send twice."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            job = session.exec(visible(select(Job).where(Job.id == job_id), Job.key_id, caller)).first()
            if job is None:
                raise NotFound(f"no job with id '{job_id}'", field="id")
            transition = self.progress.cancel(session, job)
            session.commit()
        self.progress.announce(transition)
        return self.get(job_id, caller)

    def job_of_evaluation(self, evaluation_id: str) -> str | None:
        """The job whose attempt this evaluation judged, if any."""
        with Session(autocommit(self.services.engine)) as session:  # a read: no ROLLBACK (see get)
            return session.exec(select(JobAttempt.job_id).where(JobAttempt.evaluation_id == evaluation_id)).first()

    def page(
        self, filters: JobFilter, limit: int = DEFAULT_LIMIT, cursor: str | None = None, caller: Caller | None = None
    ) -> Page:
        """One page of the caller's tenant's jobs (``caller`` None: everyone's), newest first, starting after
        ``cursor`` (the previous page's ``next_cursor``), each as ``GET /v1/jobs/{id}`` shows it without the attempt
        list (their chosen images, verdicts and summaries come from the attempts, read for the whole page at once)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"'limit' must be 1 to {MAX_LIMIT}", field="limit")
        with Session(self.services.engine) as session:
            columns = (col(Job.created_at), col(Job.id))
            query, listing = job_query(filters, caller), filters.listing()
            jobs, next_cursor = keyset.read_page(session, query, columns, listing, cursor, str, limit)
            by_job: dict[str, list[JobAttempt]] = {job.id: [] for job in jobs}
            if jobs:
                attempts = (
                    select(JobAttempt)
                    .where(col(JobAttempt.job_id).in_(list(by_job)))
                    .order_by(col(JobAttempt.slot), col(JobAttempt.number))
                )
                for attempt in session.exec(attempts):
                    by_job[attempt.job_id].append(attempt)
        # One query for the whole page's review decisions, not one per job.
        decisions = self.views.decisions([attempt for attempts in by_job.values() for attempt in attempts])
        data = [self.views.view(job, by_job[job.id], decisions) | {"attempts": None} for job in jobs]
        return Page(data, next_cursor)

    def view(self, job: Job, attempts: list[JobAttempt]) -> dict[str, Any]:
        return self.views.view(job, attempts)


def check_reachable_size(rubric: Rubric, width: int, height: int, asked: bool) -> None:
    """Refuse a size no attempt can pass: every attempt is generated at it, and a size failure is not one a prompt
    can mend, so each regeneration would be one more paid call to the same red verdict. Read from the rubric's own
    size criteria (each ``min_size`` check's settings), not from a task's name. ``asked``: the size came from the
    params (else it is the model's default)."""
    longest, shortest = max(width, height), min(width, height)
    for criterion in rubric.criteria:
        if criterion.judge != "pixels" or criterion.check != "min_size":
            continue
        settings = MinSizeSettings.model_validate(criterion.settings)
        if longest >= settings.min_longest_side and shortest >= settings.min_shortest_side:
            continue
        source = "the size asked for (params.width, params.height)" if asked else "the model's default size"
        raise InvalidInput(
            f"{source}, {width}x{height}, is one task '{rubric.id}' cannot pass: its criterion '{criterion.id}' wants "
            f"the longest side at least {settings.min_longest_side} px and the shorter side at least "
            f"{settings.min_shortest_side} px, and every attempt is generated at that size; ask for a larger size "
            "the model offers",
            field="params.width",
        )


def check_edit_size(source: ImageInfo, size: tuple[int, int], field: str) -> None:
    """An edit's asked size against its source: the edit tasks' size check wants the source's aspect ratio (within
    2%) and at least half its width and height, so a job asking for another could only ever come back red."""
    width, height = size
    aspect, wanted = width / height, source.width / source.height
    if abs(aspect - wanted) / wanted > 0.02 or width * 2 < source.width or height * 2 < source.height:
        raise InvalidInput(
            f"size {width}x{height} cannot be judged against the source's {source.width}x{source.height}: an edit "
            "job's result must keep the source's aspect ratio and at least half its width and height; ask for such "
            "a size, or leave size out to keep the source's",
            field=field,
        )
