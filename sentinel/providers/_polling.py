"""Waiting for a job a provider runs in the background (Replicate predictions, fal queue jobs).

Both APIs answer a submission with URLs to poll and to cancel. This module owns the waiting: one deadline over
the whole job, polls that ride out a passing failure, and a best-effort cancel of a job we gave up on while it
was still running. How a status is read from an answer, and what a finished job holds, stay with each adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx

from sentinel.providers._http import MAY_BE_BILLED, billed, send, work_started
from sentinel.providers.base import FALLBACK_OUTCOMES, TRANSIENT_OUTCOMES, Outcome, ProviderResult, failure

#: Seconds the best-effort cancel may take after we gave up: it must not delay the fallback for long.
CANCEL_TIMEOUT = 2.0
#: Consecutive failed polls (429, 5xx, network) tolerated: a hiccup should not throw away a running job.
MAX_POLL_FAILURES = 3

#: What an adapter keeps of the answer that reported its job finished (a prediction, or nothing at all).
Finished = TypeVar("Finished")


@dataclass
class JobProgress:
    """What is known about the job so far; read after the deadline to cancel it and to explain."""

    status: str
    cancel_url: str | None = None
    #: The provider created the job: from then on it may run, and bill, whatever we make of it.
    created: bool = False

    def job_created(self, task: str | None = None) -> None:
        """Said by the adapter once the submission was answered with a job (see ``_http.CallUnderWay``), readable
        at ``task`` (what its :meth:`resume` takes), which the call log keeps for a worker that takes the call over."""
        self.created = True
        work_started(task)


@dataclass(frozen=True)
class JobClient:
    """One adapter's calls around a background job, each with its credentials, timeout and reading of errors."""

    client: httpx.AsyncClient
    #: The adapter's name, for transport failures.
    provider: str
    #: What the provider's jobs are called in messages, e.g. "replicate prediction".
    job_name: str
    headers: dict[str, str]
    #: The adapter's reading of a non-2xx answer as a typed failure (None for 2xx).
    classify: Callable[[httpx.Response], ProviderResult | None]
    timeout: float
    poll_interval: float
    #: Statuses after which the job never changes again: polling stops, and there is nothing left to cancel.
    finished_statuses: frozenset[str]
    #: The HTTP method the provider's cancel URL takes.
    cancel_method: str
    #: The request's deadline (the event loop's time), when it ends the job before ``timeout`` does.
    deadline: float | None = None

    async def run_within_deadline(self, job: Awaitable[ProviderResult], progress: JobProgress) -> ProviderResult:
        """The job's outcome, or TIMEOUT once ``timeout`` has passed. A job we stop following before it finished
        is canceled, best-effort, or the provider would finish it and bill us: after our own deadline, a failed
        poll, and also when the caller stops waiting (the router's deadline, a client that went away), which
        reaches us as the cancellation of this task rather than as our timeout."""
        ends = asyncio.get_running_loop().time() + self.timeout
        by_deadline = self.deadline is not None and self.deadline < ends
        try:
            # The request's deadline, when earlier, ends the job here, so the job is cancelled by the deadline
            # and not only by the provider's timeout.
            async with asyncio.timeout_at(self.deadline if by_deadline and self.deadline is not None else ends):
                result = await job
        except TimeoutError:
            limit = "by the request's deadline" if by_deadline else f"within {self.timeout:g} s"
            result = failure(
                Outcome.TIMEOUT, f"{self.job_name} did not finish {limit} (last status: {progress.status})"
            )
        except (asyncio.CancelledError, Exception):
            # The caller stopped waiting (or a bug ended the wait): it still gets that, once the provider was told
            # to stop.
            await self._cancel_unfinished(progress)
            raise
        if not result.ok:
            await self._cancel_unfinished(progress)
            if result.outcome is Outcome.TIMEOUT and progress.created and not result.paid:
                # We stopped waiting for a job the provider had created: cancelled or not, it may be billed for it.
                result = replace(result, paid=True, message=f"{result.message}; the job was created: {MAY_BE_BILLED}")
        return result

    async def submit(self, url: str, body: dict[str, Any]) -> httpx.Response | ProviderResult:
        """A 2xx answer to the job's submission, or the typed failure of the POST (a paid time-out when the
        submission went out in full and its answer did not come: the job may have been created, and we cannot cancel
        what we never heard of)."""
        return await self._request("POST", url, body, billed_call=True)

    async def get(self, url: str) -> httpx.Response | ProviderResult:
        """A 2xx answer, or the typed failure of the GET."""
        return await self._request("GET", url)

    async def fetch(self, url: str) -> httpx.Response | ProviderResult:
        """A 2xx answer to the GET of a finished job's result, asked again after a passing failure (429, 5xx,
        network) as a poll is, up to ``MAX_POLL_FAILURES`` tries within the deadline: the job is done and paid for,
        and giving up on it here sends the router to submit (and pay for) another."""
        failures = 0
        while True:
            answer = await self.get(url)
            if not isinstance(answer, ProviderResult):
                return answer
            failures += 1
            if answer.outcome not in TRANSIENT_OUTCOMES or failures >= MAX_POLL_FAILURES:
                return answer
            await asyncio.sleep(max(self.poll_interval, answer.retry_after or 0.0))

    async def poll(
        self,
        url: str,
        progress: JobProgress,
        read: Callable[[httpx.Response], tuple[str, Finished] | ProviderResult],
    ) -> Finished | ProviderResult:
        """GET ``url`` every ``poll_interval`` seconds until the job finished, and return what ``read`` (the job's
        status and what to keep, or a failure) made of that answer; or the failure that ended the polling. The
        caller's deadline bounds the total time."""
        failures = 0
        wait = self.poll_interval
        while True:
            await asyncio.sleep(wait)
            wait = self.poll_interval
            answer = await self.get(url)
            if isinstance(answer, ProviderResult):
                failures += 1
                if answer.outcome in FALLBACK_OUTCOMES and failures < MAX_POLL_FAILURES:
                    wait = max(wait, answer.retry_after or 0.0)
                    continue
                if answer.outcome in FALLBACK_OUTCOMES or answer.outcome is Outcome.AUTH:
                    return answer
                # Our request cannot be malformed here (a GET of the URL the provider gave us): the job is gone.
                return failure(
                    Outcome.UNAVAILABLE, f"{self.job_name} could not be read: {answer.message}", answer.status_code
                )
            reading = read(answer)
            if isinstance(reading, ProviderResult):
                return reading
            status, kept = reading
            failures = 0
            progress.status = status
            # Unknown statuses keep polling: a new intermediate state must not end a running job.
            if status in self.finished_statuses:
                return kept

    async def _request(
        self, method: str, url: str, body: dict[str, Any] | None = None, *, billed_call: bool = False
    ) -> httpx.Response | ProviderResult:
        extensions = billed() if billed_call else None
        call = self.client.request(
            method, url, json=body, headers=self.headers, timeout=self.timeout, extensions=extensions
        )
        response = await send(
            call,
            self.provider,
            billed_on_success=billed_call,
        )
        if isinstance(response, ProviderResult):
            return response
        return self.classify(response) or response

    async def _cancel_unfinished(self, progress: JobProgress) -> None:
        """Cancel the job if the provider may still be running it; at most ``CANCEL_TIMEOUT`` seconds.

        The request runs as its own task under ``shield``: a second cancellation of the caller (a router
        deadline, then a disconnect) stops our waiting for it, not the request itself."""
        if not progress.cancel_url or progress.status in self.finished_statuses:
            return
        request = asyncio.ensure_future(self._cancel(progress.cancel_url))
        _CANCELS_IN_FLIGHT.add(request)  # the loop keeps only weak references to tasks
        request.add_done_callback(_CANCELS_IN_FLIGHT.discard)
        await asyncio.shield(request)

    async def _cancel(self, cancel_url: str) -> None:
        """Take a job we no longer wait for off the provider (we would pay for it); its failures do not matter."""
        with contextlib.suppress(httpx.HTTPError, TimeoutError):
            async with asyncio.timeout(CANCEL_TIMEOUT):
                await self.client.request(self.cancel_method, cancel_url, headers=self.headers, timeout=CANCEL_TIMEOUT)


#: Cancel requests still being sent after their caller was cancelled a second time.
_CANCELS_IN_FLIGHT: set[asyncio.Future[None]] = set()
