"""Talking HTTP to a provider: sending a request with typed transport failures, and checking the URLs it hands back."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

import httpx

from sentinel.net.cut_answers import AnswerBrokeOff
from sentinel.net.transport import (
    CLIENT_WATCH,
    ON_REQUEST_SENT,
    AnswerTooLarge,
    ClientGone,
    until_client_gone,
)

# Re-exported: callers read answers with it from here too.
from sentinel.providers.answer_json import json_body as json_body
from sentinel.providers.base import (
    Outcome,
    ProviderImage,
    ProviderResult,
    decode_base64,
    failure,
    transport_failure,
)


class CallUnderWay:
    """One provider call the router waits for (see :data:`CALL_UNDER_WAY`), and whether the provider may already be
    making, and billing, its image: its request went out in full (the transport says so), or the job it asked for was
    created (a polling adapter says so). A call given up on before that cost nothing; one given up on after it may be
    billed, and is counted at its price."""

    __slots__ = ("on_task", "started")

    def __init__(self, on_task: Callable[[str], None] | None = None) -> None:
        self.started = False
        #: Told where the provider's task for this call can be read, once it was created (see ``task_created``).
        self.on_task = on_task

    def request_sent(self) -> None:
        self.started = True

    def task_created(self, task: str | None) -> None:
        """The provider created the task this call asked for, readable at ``task`` (None: no address to keep)."""
        self.started = True
        if task is not None and self.on_task is not None:
            self.on_task(task)


#: The call the router is waiting for in this task, set around each ``provider.generate``; None outside the router.
CALL_UNDER_WAY: ContextVar[CallUnderWay | None] = ContextVar("sentinel_call_under_way", default=None)


def billed(extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    """``extensions`` for the request that makes (and bills) the image, asking the transport to say when it went out
    in full (see :class:`CallUnderWay`)."""
    call = CALL_UNDER_WAY.get()
    if call is None:
        return extensions or {}
    return {**(extensions or {}), ON_REQUEST_SENT: call.request_sent}


def work_started(task: str | None = None) -> None:
    """Said by a polling adapter once the provider created the job it asked for: from then on it may be billed.
    ``task``: where the job can be read again, kept with the call so a worker that takes it over after a crash polls
    it rather than buy the image again."""
    call = CALL_UNDER_WAY.get()
    if call is not None:
        call.task_created(task)


def started() -> bool:
    """Whether the call under way may already be billed (see :class:`CallUnderWay`)."""
    call = CALL_UNDER_WAY.get()
    return call is not None and call.started


async def send(
    call: Coroutine[object, object, httpx.Response], provider: str, *, billed_on_success: bool = False
) -> httpx.Response | ProviderResult:
    """The answer to one HTTP call to ``provider`` (``client.post(...)`` not yet awaited), whatever its status, or the
    typed failure when none came: an adapter reports a timeout or a refused connection, it never raises one. An
    answer larger than the client takes (see ``provider_client``) was dropped unread: the provider's fault, and the
    next candidate may answer as it should. A call in flight when the gateway's client disconnects is dropped (see
    ``until_client_gone``) and comes back as a TIMEOUT saying so.

    ``billed_on_success``: a 2xx to this call is a finished generation (an image answer, not a job to poll), so a 2xx
    whose body broke off midway was made and billed all the same: a paid failure (logged at its price, this
    candidate not asked again in the request, the next one may serve), never "could not be reached". So is a read
    time-out of such a call: its request went out in full (aiohttp starts the read timer once the body is written),
    and the provider may finish, and bill, the image we stopped waiting for. A time-out before it was sent (no
    connection in time) costs nothing."""
    try:
        response = await until_client_gone(call)
    except ClientGone:
        # TIMEOUT, as the router says when it stops a walk for a gone client (it asks before the next candidate).
        watch = CLIENT_WATCH.get()
        why = "the server is stopping" if watch is not None and watch.stopping else "the client disconnected"
        said = f"{why} while {provider} was answering; the call was dropped"
        if billed_on_success and started():
            # Dropped after the provider had the whole request: it may finish, and bill, the image all the same.
            return ProviderResult(
                Outcome.TIMEOUT, message=f"{said}, after its request went out: {MAY_BE_BILLED}", paid=True
            )
        return failure(Outcome.TIMEOUT, said)
    except AnswerTooLarge as exc:
        said = (
            f"{provider}'s answer is larger than {exc.limit} bytes, the most one image answer may take "
            "(SENTINEL_MAX_IMAGE_BYTES as base64, plus room); it was not read further"
        )
        status = exc.status_code
        if billed_on_success and status is not None and 200 <= status < 300:
            # A success too large to read is a finished generation all the same: made and billed, as a 2xx that broke
            # off is (logged at its price, counted by spend caps, not bought again from this candidate).
            return ProviderResult(
                Outcome.UNRECOGNISED_ANSWER,
                message=f"{said}: the image was made and billed but not received; not bought again from it",
                status_code=status,
                paid=True,
            )
        return failure(Outcome.UNRECOGNISED_ANSWER, said, status)
    except AnswerBrokeOff as exc:
        said = f"{provider} answered HTTP {exc.status_code}, but the answer broke off after {exc.progress}"
        if billed_on_success and 200 <= exc.status_code < 300:
            return ProviderResult(
                Outcome.UNAVAILABLE,
                message=f"{said}: the image was made and billed but not received; not bought again from it",
                status_code=exc.status_code,
                paid=True,
            )
        return failure(Outcome.UNAVAILABLE, said, exc.status_code)
    except httpx.HTTPError as exc:
        if billed_on_success and isinstance(exc, httpx.TimeoutException):
            if isinstance(exc, httpx.ReadTimeout):
                work_started()  # the router, should its own time-out come next, knows it too
            if isinstance(exc, httpx.ReadTimeout) or started():
                return ProviderResult(
                    Outcome.TIMEOUT,
                    message=f"{provider} did not answer in time ({type(exc).__name__}) after the whole request was "
                    f"sent: {MAY_BE_BILLED}",
                    paid=True,
                )
        return transport_failure(exc, provider)
    # An httpx response and its (read) stream refer to each other. Unless that cycle is cut here, an answer's
    # megabytes stay alive until the garbage collector's next pass over older objects, long after the call.
    response.stream = httpx.ByteStream(b"")
    return response


#: Said of a call given up on after its request went out (or its job was created): counted at its price.
MAY_BE_BILLED = (
    "the provider may still make, and bill, the image, so the call is counted at its price; not asked again in this "
    "request"
)


def absolute_http_url(value: object) -> httpx.URL | None:
    """``value`` as a URL when it is an absolute http(s) URL with a host; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        return None
    return url if url.scheme in ("http", "https") and url.host else None


def url_on_api_host(value: object, *, base_url: str, provider: str, what: str) -> tuple[str | None, str | None]:
    """A URL the provider handed back for us to call with our credentials (poll, cancel, fetch a result): it must
    be absolute http(s) and on the configured API's own scheme, host and port. Returns (url, None) or (None, why)."""
    url = absolute_http_url(value)
    if url is None:
        return None, f"{provider} returned a {what} URL that is not an absolute http(s) URL: {str(value)[:200]!r}"
    base = httpx.URL(base_url)
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        # The credentials go with every call to it; never hand them to a host we were not configured for.
        return None, f"{provider} returned a {what} URL on another host than {base_url}: {str(value)[:200]!r}"
    return str(url), None


def image_from_output(value: object) -> ProviderImage | None:
    """One output reference as an image: an absolute http(s) URL, handed back undownloaded (the router fetches it
    through its SSRF-guarded fetcher), or a base64 ``data:image/...`` URI, decoded here; None for anything else."""
    if not isinstance(value, str):
        return None
    if value.startswith("data:image/") and ";base64," in value:
        data = decode_base64(value.split(",", 1)[1])
        # An empty data URI holds no image: the provider's fault, never a refusal of the caller's prompt.
        return ProviderImage(data=data) if data else None
    return ProviderImage(url=value) if absolute_http_url(value) is not None else None
