"""The asyncio client: ``AsyncSentinel(base_url, api_key=...)``, the same methods as :class:`Sentinel` as coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from sentinel.client import calls
from sentinel.client.calls import Call, ImageInput
from sentinel.client.models import Decision, Evaluation, ImageRef, Job, ReviewItem
from sentinel.client.sync import DEFAULT_EVALUATION_WAIT, DEFAULT_JOB_WAIT

T = TypeVar("T")


class AsyncSentinel:
    """An asyncio client for one Sentinel server: :class:`~sentinel.client.Sentinel`'s methods as coroutines
    (``list_evaluations`` is an async iterator). Use it with ``async with``, or ``await client.aclose()``.

    Every POST carries an Idempotency-Key (yours, or a fresh uuid4) that its retries reuse, so a retry after a
    timeout returns the first answer instead of making a second job or evaluation. Connection errors, 429 (after
    its Retry-After), 502, 503 and 504 are retried ``max_retries`` times with exponential backoff; other errors
    raise :class:`SentinelAPIError` at once.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        *,
        backoff: float = 0.5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = calls.server_root(base_url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._headers = calls.client_headers(api_key)
        self._http = http_client or httpx.AsyncClient()
        self._owns_http = http_client is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncSentinel:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    # -- evaluations ----------------------------------------------------------------------------------

    async def evaluate(
        self,
        image: ImageInput,
        task: str,
        params: dict[str, Any] | None = None,
        source: ImageInput | None = None,
        mask: ImageInput | None = None,
        wait: bool = True,
        idempotency_key: str | None = None,
        *,
        callback_url: str | None = None,
        wait_timeout: float = DEFAULT_EVALUATION_WAIT,
    ) -> Evaluation:
        """Judge ``image`` (bytes, a path, an open file, or an http(s) URL the server fetches) against ``task``'s
        rubric. Edit tasks also take the ``source`` and ``mask``. With ``wait`` (the default) returns once the
        verdict is in, else at once with ``status == "judging"``."""
        flow = calls.evaluate(image, task, params, source, mask, wait, idempotency_key, callback_url, wait_timeout)
        return await self._run(flow)

    async def get_evaluation(self, evaluation_id: str) -> Evaluation:
        return await self._run(calls.get_evaluation(evaluation_id))

    async def wait_for_evaluation(self, evaluation_id: str, timeout: float = DEFAULT_EVALUATION_WAIT) -> Evaluation:
        """The evaluation once judged; :class:`SentinelTimeout` if that takes longer than ``timeout`` seconds."""
        return await self._run(calls.wait_for_evaluation(evaluation_id, timeout))

    async def list_evaluations(
        self,
        *,
        task: str | None = None,
        verdict: Literal["green", "amber", "red"] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        key: str | None = None,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Evaluation]:
        """Evaluations newest first, following the API's cursors page by page (``page_size`` each, up to 500)
        until ``limit`` of them (default: all that match) have been yielded."""
        filters = calls.query(task=task, verdict=verdict, since=since, until=until, key=key)
        pages = calls.evaluation_pages(filters, limit, page_size)
        while (call := pages.next_call()) is not None:
            for evaluation in pages.take(await self._send(call)):
                yield evaluation

    # -- jobs -----------------------------------------------------------------------------------------

    async def create_job(
        self,
        task: str,
        prompt: str,
        params: dict[str, Any] | None = None,
        n: int = 1,
        *,
        model: str | None = None,
        max_attempts: int | None = None,
        budget_seconds: float | None = None,
        seed: int | None = None,
        callback_url: str | None = None,
        source: ImageInput | None = None,
        mask: ImageInput | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Start a job: ``n`` images for ``task``, each judged and regenerated while red. Edit tasks take the
        ``source`` and ``mask`` (bytes, paths, open files or URLs). Returns at once (``state == "queued"``)."""
        fields = {
            "task": task,
            "prompt": prompt,
            "params": params,
            "n": n,
            "model": model,
            "max_attempts": max_attempts,
            "budget_seconds": budget_seconds,
            "seed": seed,
            "callback_url": callback_url,
        }
        return await self._run(calls.create_job(fields, source, mask, idempotency_key))

    async def get_job(self, job_id: str) -> Job:
        return await self._run(calls.get_job(job_id))

    async def cancel_job(self, job_id: str) -> Job:
        """Stop the job: no further attempt starts (one under way finishes and is kept); returns it ``cancelled``,
        with its best attempt so far. A job that already ended raises :class:`SentinelAPIError` (409)."""
        return await self._run(calls.cancel_job(job_id))

    async def wait_for_job(self, job_id: str, timeout: float = DEFAULT_JOB_WAIT) -> Job:
        """The job once final (done, failed, expired or cancelled); :class:`SentinelTimeout` after ``timeout``
        seconds."""
        return await self._run(calls.wait_for_job(job_id, timeout))

    async def list_jobs(
        self,
        *,
        task: str | None = None,
        verdict: str | None = None,
        state: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        key: str | None = None,
        limit: int | None = 50,
        page_size: int | None = None,
    ) -> list[Job]:
        """Jobs newest first (without their attempts): the ``limit`` newest that match (None: all of them),
        following the API's cursors page by page (``page_size`` each, up to 500)."""
        filters = calls.query(task=task, verdict=verdict, state=state, since=since, until=until, key=key)
        return await self._run(calls.list_jobs(filters, limit, page_size))

    # -- review ---------------------------------------------------------------------------------------

    async def review_queue(
        self,
        *,
        task: str | None = None,
        judge: str | None = None,
        criterion: str | None = None,
        model: str | None = None,
        older_than: str | None = None,
        newer_than: str | None = None,
        limit: int | None = 50,
        page_size: int | None = None,
    ) -> list[ReviewItem]:
        """Amber results waiting for a person, oldest first (filters as on ``GET /v1/review``): the ``limit``
        oldest (None: every one), following the API's cursors page by page."""
        flow = calls.review_queue(
            limit,
            page_size,
            task=task,
            judge=judge,
            criterion=criterion,
            model=model,
            older_than=older_than,
            newer_than=newer_than,
        )
        return await self._run(flow)

    async def decide(
        self,
        evaluation_id: str,
        decision: Literal["approve", "reject"],
        note: str | None = None,
        regenerate: bool = False,
        force: bool = False,
    ) -> Decision:
        """Approve (green) or reject (red) an amber result, recorded under this client's API key. ``regenerate``
        (job images, on reject) asks for one more attempt. A second decision raises a 409 naming who decided, and
        so does one on an item another reviewer holds unless ``force``."""
        return await self._run(calls.decide(evaluation_id, decision, note, regenerate, force))

    # -- images ---------------------------------------------------------------------------------------

    async def download(self, image: ImageRef | str) -> bytes:
        """The bytes of an image Sentinel serves (``evaluation.image``, ``job.images[0].image``, or its URL)."""
        return await self._run(calls.download(image))

    # -- plumbing -------------------------------------------------------------------------------------

    async def _run(self, flow: calls.Flow[T]) -> T:
        """Sends the calls ``flow`` asks for, one after the other, and hands it each response; returns its result."""
        try:
            call = next(flow)
        except StopIteration as finished:  # nothing to ask (a list of at most 0 rows)
            return finished.value
        while True:
            response = await self._send(call)
            try:
                call = flow.send(response)
            except StopIteration as finished:
                return finished.value

    async def _send(self, call: Call) -> httpx.Response:
        """``call``, retried as :mod:`sentinel.client.calls` says, with the same Idempotency-Key every time."""
        tries = calls.Tries(call, self.base_url, self._headers, self.timeout, self.max_retries, self.backoff)
        while True:
            try:
                response = await self._http.request(**tries.request)
            except httpx.TransportError as exc:
                await asyncio.sleep(tries.pause_after_failure(exc))
                continue
            if response.is_success:
                return response
            await asyncio.sleep(tries.pause_after_error(response))
