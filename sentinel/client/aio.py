"""The asyncio client: ``AsyncSentinel(base_url, api_key=...)``, the same methods as :class:`Sentinel` as coroutines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from sentinel.client import calls
from sentinel.client.calls import Call, ImageInput
from sentinel.client.errors import SentinelAPIError, SentinelConnectionError, SentinelTimeout
from sentinel.client.models import Decision, Evaluation, ImageRef, Job, ReviewItem
from sentinel.client.sync import DEFAULT_EVALUATION_WAIT, DEFAULT_JOB_WAIT

ResultT = TypeVar("ResultT", Evaluation, Job)


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
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._headers = {"User-Agent": calls.USER_AGENT}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
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
        call = calls.evaluation_call(image, task, params, source, mask, callback_url, idempotency_key)
        created = Evaluation.from_api(await self._json(call))
        if not wait or created.done:
            return created
        return await self.wait_for_evaluation(created.id, wait_timeout)

    async def get_evaluation(self, evaluation_id: str) -> Evaluation:
        return Evaluation.from_api(await self._json(Call("GET", calls.resource_path("/v1/evaluations", evaluation_id))))

    async def wait_for_evaluation(self, evaluation_id: str, timeout: float = DEFAULT_EVALUATION_WAIT) -> Evaluation:
        """The evaluation once judged; :class:`SentinelTimeout` if that takes longer than ``timeout`` seconds."""
        return await self._wait(calls.resource_path("/v1/evaluations", evaluation_id), Evaluation, timeout)

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
        size = page_size or (min(limit, 500) if limit else None)
        yielded, cursor = 0, None
        while True:
            page = await self._json(
                Call("GET", "/v1/evaluations", params=filters | calls.query(limit=size, cursor=cursor))
            )
            for item in page["data"]:
                yield Evaluation.from_api(item)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return

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
        return Job.from_api(await self._json(calls.job_call(fields, source, mask, idempotency_key)))

    async def get_job(self, job_id: str) -> Job:
        return Job.from_api(await self._json(Call("GET", calls.resource_path("/v1/jobs", job_id))))

    async def wait_for_job(self, job_id: str, timeout: float = DEFAULT_JOB_WAIT) -> Job:
        """The job once final (done, failed or expired); :class:`SentinelTimeout` after ``timeout`` seconds."""
        return await self._wait(calls.resource_path("/v1/jobs", job_id), Job, timeout)

    async def list_jobs(
        self, *, task: str | None = None, verdict: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Job]:
        """Recent jobs, newest first (without their attempts)."""
        params = calls.query(task=task, verdict=verdict, state=state, limit=limit)
        return [Job.from_api(item) for item in (await self._json(Call("GET", "/v1/jobs", params=params)))["data"]]

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
        limit: int = 50,
    ) -> list[ReviewItem]:
        """Amber results waiting for a person, oldest first (filters as on ``GET /v1/review``)."""
        params = calls.query(
            task=task,
            judge=judge,
            criterion=criterion,
            model=model,
            older_than=older_than,
            newer_than=newer_than,
            limit=limit,
        )
        page = await self._json(Call("GET", "/v1/review", params=params))
        return [ReviewItem.from_api(item) for item in page["data"]]

    async def decide(
        self,
        evaluation_id: str,
        decision: Literal["approve", "reject"],
        note: str | None = None,
        regenerate: bool = False,
    ) -> Decision:
        """Approve (green) or reject (red) an amber result, recorded under this client's API key. ``regenerate``
        (job images, on reject) asks for one more attempt. A second decision raises a 409 naming who decided."""
        body = {"decision": decision, "note": note, "regenerate": regenerate}
        path = calls.resource_path("/v1/review", evaluation_id) + "/decision"
        # Decisions are not deduplicated by the server: retried only where the first try surely did nothing.
        return Decision.from_api(await self._json(calls.post(path, replay_safe=False, json=body)))

    # -- images ---------------------------------------------------------------------------------------

    async def download(self, image: ImageRef | str) -> bytes:
        """The bytes of an image Sentinel serves (``evaluation.image``, ``job.images[0].image``, or its URL)."""
        return (await self._send(calls.download_call(image))).content

    # -- plumbing -------------------------------------------------------------------------------------

    async def _wait(self, path: str, model: type[ResultT], timeout: float) -> ResultT:
        deadline = time.monotonic() + timeout
        while True:
            result = model.from_api(await self._json(calls.wait_call(path, deadline - time.monotonic())))
            if result.done:
                return result
            if time.monotonic() >= deadline:
                state = result.raw.get("status") or result.raw.get("state")
                raise SentinelTimeout(f"{result.id} is still {state} after {timeout:g} s", last=result)

    async def _json(self, call: Call) -> dict[str, Any]:
        return (await self._send(call)).json()

    async def _send(self, call: Call) -> httpx.Response:
        """``call``, retried as :mod:`sentinel.client.calls` says, with the same Idempotency-Key every time."""
        url = calls.url_of(self.base_url, call)
        headers = calls.headers_for(url, self.base_url, self._headers) | call.request_headers()
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    url,
                    params=call.params,
                    json=call.json,
                    data=call.data,
                    files=call.files,
                    headers=headers,
                    timeout=calls.timeout_for(call, self.timeout),
                )
            except httpx.TransportError as exc:
                if attempt >= self.max_retries or not calls.retryable_exception(call, exc):
                    raise SentinelConnectionError(calls.transport_failure(call, exc, attempt)) from exc
                await asyncio.sleep(calls.backoff(attempt, self.backoff))
                attempt += 1
                continue
            if response.is_success:
                return response
            delay = calls.retry_delay(call, response, attempt, self.backoff) if attempt < self.max_retries else None
            if delay is None:
                raise SentinelAPIError.from_response(response)
            await asyncio.sleep(delay)
            attempt += 1
