"""The blocking client: ``Sentinel(base_url, api_key=...)``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from sentinel.client import calls
from sentinel.client.calls import Call, ImageInput
from sentinel.client.models import Decision, Evaluation, ImageRef, Job, ReviewItem

T = TypeVar("T")

#: How long ``evaluate(wait=True)`` waits for a verdict by default (an evaluation's own deadline is shorter).
DEFAULT_EVALUATION_WAIT = 300.0
#: How long ``wait_for_job`` waits by default: a job's budget is at most 300 s, queues included.
DEFAULT_JOB_WAIT = 360.0


class Sentinel:
    """A client for one Sentinel server.

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
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = calls.server_root(base_url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._headers = calls.client_headers(api_key)
        self._http = http_client or httpx.Client()
        self._owns_http = http_client is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Sentinel:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- evaluations ----------------------------------------------------------------------------------

    def evaluate(
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
        return self._run(flow)

    def get_evaluation(self, evaluation_id: str) -> Evaluation:
        return self._run(calls.get_evaluation(evaluation_id))

    def wait_for_evaluation(self, evaluation_id: str, timeout: float = DEFAULT_EVALUATION_WAIT) -> Evaluation:
        """The evaluation once judged; :class:`SentinelTimeout` if that takes longer than ``timeout`` seconds."""
        return self._run(calls.wait_for_evaluation(evaluation_id, timeout))

    def list_evaluations(
        self,
        *,
        task: str | None = None,
        verdict: Literal["green", "amber", "red"] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        key: str | None = None,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[Evaluation]:
        """Evaluations newest first, following the API's cursors page by page (``page_size`` each, up to 500)
        until ``limit`` of them (default: all that match) have been yielded."""
        filters = calls.query(task=task, verdict=verdict, since=since, until=until, key=key)
        pages = calls.evaluation_pages(filters, limit, page_size)
        while (call := pages.next_call()) is not None:
            yield from pages.take(self._send(call))

    # -- jobs -----------------------------------------------------------------------------------------

    def create_job(
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
        return self._run(calls.create_job(fields, source, mask, idempotency_key))

    def get_job(self, job_id: str) -> Job:
        return self._run(calls.get_job(job_id))

    def cancel_job(self, job_id: str) -> Job:
        """Stop the job: no further attempt starts (one under way finishes and is kept); returns it ``cancelled``,
        with its best attempt so far. A job that already ended raises :class:`SentinelAPIError` (409)."""
        return self._run(calls.cancel_job(job_id))

    def wait_for_job(self, job_id: str, timeout: float = DEFAULT_JOB_WAIT) -> Job:
        """The job once final (done, failed, expired or cancelled); :class:`SentinelTimeout` after ``timeout``
        seconds."""
        return self._run(calls.wait_for_job(job_id, timeout))

    def list_jobs(
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
        return self._run(calls.list_jobs(filters, limit, page_size))

    # -- review ---------------------------------------------------------------------------------------

    def review_queue(
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
        return self._run(flow)

    def decide(
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
        return self._run(calls.decide(evaluation_id, decision, note, regenerate, force))

    # -- images ---------------------------------------------------------------------------------------

    def download(self, image: ImageRef | str) -> bytes:
        """The bytes of an image Sentinel serves (``evaluation.image``, ``job.images[0].image``, or its URL)."""
        return self._run(calls.download(image))

    # -- plumbing -------------------------------------------------------------------------------------

    def _run(self, flow: calls.Flow[T]) -> T:
        """Sends the calls ``flow`` asks for, one after the other, and hands it each response; returns its result."""
        try:
            call = next(flow)
        except StopIteration as finished:  # nothing to ask (a list of at most 0 rows)
            return finished.value
        while True:
            response = self._send(call)
            try:
                call = flow.send(response)
            except StopIteration as finished:
                return finished.value

    def _send(self, call: Call) -> httpx.Response:
        """``call``, retried as :mod:`sentinel.client.calls` says, with the same Idempotency-Key every time."""
        tries = calls.Tries(call, self.base_url, self._headers, self.timeout, self.max_retries, self.backoff)
        while True:
            try:
                response = self._http.request(**tries.request)
            except httpx.TransportError as exc:
                time.sleep(tries.pause_after_failure(exc))
                continue
            if response.is_success:
                return response
            time.sleep(tries.pause_after_error(response))
