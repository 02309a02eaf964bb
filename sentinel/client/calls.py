"""What the sync and async clients share: each API call as a plain description (method, path, body, and its
Idempotency-Key, made once so that every retry of the call carries the same one), what its answer means, and when
to retry. The clients only send: :class:`~sentinel.client.Sentinel` blocking, :class:`~sentinel.client.AsyncSentinel`
awaiting."""

from __future__ import annotations

import email.utils
import json
import mimetypes
import os
import random
import re
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from sentinel.client.errors import (
    SentinelAPIError,
    SentinelConnectionError,
    SentinelTimeout,
    SentinelUnexpectedAnswer,
    answer_json,
)
from sentinel.client.models import Decision, Evaluation, ImageRef, Job, ReviewItem

#: An image given to the client: its bytes, a path to a file, an open binary file, or an http(s) URL that the
#: server fetches itself (public addresses only).
ImageInput = bytes | str | os.PathLike[str] | IO[bytes]

#: Statuses that say "not now" rather than "not this": the same request may work in a moment.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Of those, the ones an answering Sentinel sends before doing anything (a rate limit, a database or decoder that is
#: busy): a call the server cannot deduplicate is retried only on these.
REFUSED_STATUSES = frozenset({429, 503})
#: A duplicate of a request that is still running: Sentinel asks to come back after Retry-After.
KEY_IN_USE = "idempotency_key_in_use"
#: A server's Retry-After is honoured up to this many seconds; a longer one gets our own backoff instead, so that a
#: misconfigured proxy cannot park a client for hours.
MAX_RETRY_AFTER_SECONDS = 60.0
#: Our own backoff never grows past this.
MAX_BACKOFF_SECONDS = 8.0
#: The API's own cap on a long-poll (``?wait=``).
MAX_WAIT_SECONDS = 60.0
USER_AGENT = "sentinel-client/0.1"

ResultT = TypeVar("ResultT", Evaluation, Job)
T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One API call. ``replay_safe``: the server deduplicates it by its Idempotency-Key, so it can be sent again
    whatever happened to an earlier try (a timeout after the server acted included)."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    idempotency_key: str | None = None
    replay_safe: bool = True
    #: Seconds to add to the client's timeout for this call (a long-poll holds the answer this long).
    extra_timeout: float = 0.0

    def request_headers(self) -> dict[str, str]:
        return {} if self.idempotency_key is None else {"Idempotency-Key": self.idempotency_key}


#: One method of the clients, written once: a generator that yields each :class:`Call` it needs, is sent back the
#: call's successful response, and returns the method's result. A client drives it with its own way of sending.
Flow = Generator[Call, httpx.Response, T]


def post(path: str, idempotency_key: str | None = None, replay_safe: bool = True, **body: Any) -> Call:
    """A POST with its Idempotency-Key: the caller's, or a fresh uuid4 that every retry of it reuses."""
    return Call("POST", path, idempotency_key=idempotency_key or str(uuid.uuid4()), replay_safe=replay_safe, **body)


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def read_image(name: str, value: ImageInput) -> tuple[str, bytes, str]:
    """A multipart file part for ``value``: bytes as they are, a path read from disk, an open file read."""
    if isinstance(value, bytes | bytearray | memoryview):
        return name, bytes(value), "application/octet-stream"
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        data = path.read_bytes()  # a missing file is the caller's FileNotFoundError, naming the path
        return path.name, data, mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if hasattr(value, "read"):
        filename = Path(str(getattr(value, "name", name))).name
        return filename, value.read(), mimetypes.guess_type(filename)[0] or "application/octet-stream"
    raise TypeError(f"{name}: expected bytes, a path, an open binary file or an http(s) URL, not {type(value)!r}")


def images_as(inputs: dict[str, ImageInput | None]) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """The given images as URLs (all of them) or as files (all of them): the API takes one or the other per
    request, so a mix is refused here, naming both kinds."""
    given = {name: value for name, value in inputs.items() if value is not None}
    urls = {name: value for name, value in given.items() if is_url(value)}
    if urls and len(urls) != len(given):
        local = sorted(set(given) - set(urls))
        raise ValueError(
            f"{', '.join(sorted(urls))} given as URL but {', '.join(local)} as file or bytes: "
            "send every image of one request the same way"
        )
    if urls:
        return {name: str(url) for name, url in urls.items()}, {}
    return {}, {name: read_image(name, value) for name, value in given.items()}  # type: ignore[arg-type]


def evaluation_call(
    image: ImageInput,
    task: str,
    params: dict[str, Any] | None,
    source: ImageInput | None,
    mask: ImageInput | None,
    callback_url: str | None,
    idempotency_key: str | None,
) -> Call:
    """``POST /v1/evaluations``: multipart for bytes and files, JSON with ``*_url`` fields for URLs."""
    urls, files = images_as({"image": image, "source": source, "mask": mask})
    if urls:
        body: dict[str, Any] = {"task": task, "params": params or {}}
        body |= {f"{name}_url": url for name, url in urls.items()}
        if callback_url is not None:
            body["callback_url"] = callback_url
        return post("/v1/evaluations", idempotency_key, json=body)
    data = {"task": task}
    if params:
        data["params"] = json.dumps(params)
    if callback_url is not None:
        data["callback_url"] = callback_url
    return post("/v1/evaluations", idempotency_key, data=data, files=files)


def job_call(fields: dict[str, Any], source: ImageInput | None, mask: ImageInput | None, key: str | None) -> Call:
    """``POST /v1/jobs``: JSON, or multipart when an edit job's source and mask are bytes or files."""
    fields = {name: value for name, value in fields.items() if value is not None}
    urls, files = images_as({"source": source, "mask": mask})
    if not files:
        return post("/v1/jobs", key, json=fields | {f"{name}_url": url for name, url in urls.items()})
    data = {name: json.dumps(value) if name == "params" else str(value) for name, value in fields.items()}
    return post("/v1/jobs", key, data=data, files=files)


def query(**filters: Any) -> dict[str, str]:
    """Query parameters without the unset ones; datetimes as ISO 8601 (a naive one taken as UTC)."""
    found: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        found[name] = str(value)
    return found


def retry_after(response: httpx.Response) -> float | None:
    """The response's Retry-After in seconds (a number or an HTTP date), when it has a usable one."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # neither a number nor a date: our own backoff
        seconds = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() - time.time()
    return max(0.0, seconds) if seconds <= MAX_RETRY_AFTER_SECONDS else None


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: about base, 2×base, 4×base… (capped), each between half and all of it."""
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2**attempt)
    return ceiling * (0.5 + random.random() / 2)


def retry_delay(call: Call, response: httpx.Response, attempt: int, base: float) -> float | None:
    """How long to wait before sending ``call`` again after ``response``; None: do not retry."""
    statuses = RETRY_STATUSES if call.replay_safe else REFUSED_STATUSES
    retry = response.status_code in statuses
    if response.headers.get("x-should-retry") == "false":
        # The server knows no retry can change this answer (no provider key, a retired model, a refused key).
        return None
    if response.status_code == 409 and call.idempotency_key is not None:
        # Our own earlier try (timed out here) still holds the key on the server: ask again for its answer.
        retry = _error_type(response) == KEY_IN_USE
    if not retry:
        return None
    told = retry_after(response)
    return told if told is not None else backoff(attempt, base)


def retryable_exception(call: Call, exc: httpx.HTTPError) -> bool:
    """A transport failure worth another try: any that may pass for a call the server deduplicates; for other
    calls only those where the request surely never reached the server (it was not connected)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if not call.replay_safe:
        return False
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


def _error_type(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("type") if isinstance(error, dict) else None


def timeout_for(call: Call, timeout: float) -> httpx.Timeout:
    return httpx.Timeout(timeout + call.extra_timeout)


def wait_call(path: str, wait: float) -> Call:
    """A long-poll ``GET path?wait=``: the server answers once the resource is final or ``wait`` seconds passed."""
    wait = max(0.0, min(wait, MAX_WAIT_SECONDS))
    return Call("GET", path, params={"wait": f"{wait:.3f}"}, extra_timeout=wait)


def resource_path(prefix: str, resource_id: str) -> str:
    """``prefix/<id>`` with the id escaped as one path segment. An id that cannot be one (empty, or ``.`` and
    ``..``, which URLs resolve away) is a ValueError here rather than a request for another resource."""
    if resource_id in ("", ".", ".."):
        raise ValueError(f"{resource_id!r} is not an id: pass the id the API gave (e.g. the 'id' of its answer)")
    return f"{prefix}/{quote(resource_id, safe='')}"


def transport_failure(call: Call, exc: httpx.TransportError, retries: int) -> str:
    """Words for a call that never got an answer: what was asked, what went wrong, how often it was tried."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason = f"no answer in time ({type(exc).__name__})"
    tries = f" after {retries + 1} tries" if retries else ""
    return f"{call.method} {call.path}: {reason}{tries}"


#: An image's id: the sha256 of its bytes.
IMAGE_ID = re.compile(r"[0-9a-f]{64}")


def download_call(image: Any) -> Call:
    """``GET`` an image Sentinel serves: an ``ImageRef`` (or anything with a ``url``), its URL, absolute or as the
    API gives it (a path on the server, signed), or its id."""
    url = image if isinstance(image, str) else getattr(image, "url", None)
    if not isinstance(url, str) or not url:
        raise TypeError(f"expected an ImageRef or an image URL, not {type(image)!r}")
    if IMAGE_ID.fullmatch(url):
        return Call("GET", resource_path("/v1/images", url))
    if not (is_url(url) or url.startswith("/")):
        raise ValueError(
            f"{url[:100]!r} is not an image: pass an ImageRef, an http(s) image URL, a path on Sentinel "
            "(/v1/images/…) or an image id"
        )
    return Call("GET", url)


def server_root(base_url: str) -> str:
    """The server's address as calls are appended to it (``/v1/...``): a base URL ending in ``/v1``, as the OpenAI
    SDK is given one, means the same server (it made every call a 404 for ``/v1/v1/...``)."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1") if root.endswith("/v1") else root


def url_of(base_url: str, call: Call) -> str:
    return call.path if is_url(call.path) else base_url + call.path


def headers_for(url: str, base_url: str, headers: dict[str, str]) -> dict[str, str]:
    """The client's headers for ``url``: the API key only for Sentinel's own address, never for another host (an
    object store's presigned image URL would refuse a second credential, and must not see ours)."""
    if url == base_url or url.startswith(base_url + "/"):
        return headers
    return {name: value for name, value in headers.items() if name.lower() != "authorization"}


def client_headers(api_key: str | None) -> dict[str, str]:
    """The headers of every request a client sends to its own server."""
    headers = {"User-Agent": USER_AGENT}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class Tries:
    """The tries of one call: the request to send, and after a failed try the pause before the next one, or the
    error to raise when :func:`retry_delay` and :func:`retryable_exception` allow no other."""

    def __init__(
        self, call: Call, base_url: str, headers: dict[str, str], timeout: float, max_retries: int, backoff: float
    ) -> None:
        self.call = call
        self.max_retries = max_retries
        self.backoff = backoff
        self.attempt = 0
        url = url_of(base_url, call)
        #: The arguments of ``httpx.Client.request`` (and of the async one), the same on every try.
        self.request: dict[str, Any] = {
            "method": call.method,
            "url": url,
            "params": call.params,
            "json": call.json,
            "data": call.data,
            "files": call.files,
            "headers": headers_for(url, base_url, headers) | call.request_headers(),
            "timeout": timeout_for(call, timeout),
        }

    def pause_after_failure(self, exc: httpx.TransportError) -> float:
        """Seconds to wait before trying again after ``exc``; :class:`SentinelConnectionError` when not to."""
        if self.attempt >= self.max_retries or not retryable_exception(self.call, exc):
            raise SentinelConnectionError(transport_failure(self.call, exc, self.attempt)) from exc
        pause = backoff(self.attempt, self.backoff)
        self.attempt += 1
        return pause

    def pause_after_error(self, response: httpx.Response) -> float:
        """Seconds to wait before trying again after an error ``response``; :class:`SentinelAPIError` when not to."""
        delay = (
            retry_delay(self.call, response, self.attempt, self.backoff) if self.attempt < self.max_retries else None
        )
        if delay is None:
            raise SentinelAPIError.from_response(response)
        self.attempt += 1
        return delay


# -- the clients' methods, each once ----------------------------------------------------------------------------------


def evaluate(
    image: ImageInput,
    task: str,
    params: dict[str, Any] | None,
    source: ImageInput | None,
    mask: ImageInput | None,
    wait: bool,
    idempotency_key: str | None,
    callback_url: str | None,
    wait_timeout: float,
) -> Flow[Evaluation]:
    call = evaluation_call(image, task, params, source, mask, callback_url, idempotency_key)
    created = Evaluation.from_response((yield call))
    if not wait or created.done:
        return created
    return (yield from wait_for_evaluation(created.id, wait_timeout))


def get_evaluation(evaluation_id: str) -> Flow[Evaluation]:
    return Evaluation.from_response((yield Call("GET", resource_path("/v1/evaluations", evaluation_id))))


def wait_for_evaluation(evaluation_id: str, timeout: float) -> Flow[Evaluation]:
    return (yield from wait_until_done(resource_path("/v1/evaluations", evaluation_id), Evaluation, timeout))


#: The API's largest page (``limit`` of a list call).
MAX_PAGE_SIZE = 500


class Pages(Generic[ResultT]):
    """A list call (``GET /v1/evaluations``, ``GET /v1/jobs``) newest first, following the API's cursors page by
    page (``page_size`` each, up to 500) until ``limit`` rows (None: all that match) have been taken, each made a
    ``model``. The clients send :meth:`next_call` and pass its answer to :meth:`take` until there is no next call."""

    def __init__(
        self, path: str, model: type[ResultT], filters: dict[str, str], limit: int | None, page_size: int | None
    ) -> None:
        self.path = path
        self.model = model
        self.filters = filters
        self.limit = limit
        self.size = page_size or (min(limit, MAX_PAGE_SIZE) if limit else None)
        self.taken = 0
        self.cursor: str | None = None
        self.finished = limit is not None and limit <= 0

    def next_call(self) -> Call | None:
        """The call for the next page; None once the limit is reached or the last page was read."""
        if self.finished:
            return None
        return Call("GET", self.path, params=self.filters | query(limit=self.size, cursor=self.cursor))

    def take(self, response: httpx.Response) -> Iterator[ResultT]:
        """The page's rows, one at a time, up to the limit."""
        page = answer_json(response)
        for item in page_rows(response, page):
            yield self.model.from_response(response, item)
            self.taken += 1
            if self.limit is not None and self.taken >= self.limit:
                self.finished = True
                return
        self.cursor = page.get("next_cursor")
        self.finished = not self.cursor


def page_rows(response: httpx.Response, page: dict[str, Any]) -> list[Any]:
    """A list page's rows, or :class:`SentinelUnexpectedAnswer` when it has none."""
    rows = page.get("data")
    if not isinstance(rows, list):
        raise SentinelUnexpectedAnswer.of(response, "it holds no 'data' list of rows")
    return rows


def evaluation_pages(filters: dict[str, str], limit: int | None, page_size: int | None) -> Pages[Evaluation]:
    return Pages("/v1/evaluations", Evaluation, filters, limit, page_size)


def job_pages(filters: dict[str, str], limit: int | None, page_size: int | None) -> Pages[Job]:
    return Pages("/v1/jobs", Job, filters, limit, page_size)


def create_job(
    fields: dict[str, Any], source: ImageInput | None, mask: ImageInput | None, idempotency_key: str | None
) -> Flow[Job]:
    return Job.from_response((yield job_call(fields, source, mask, idempotency_key)))


def get_job(job_id: str) -> Flow[Job]:
    return Job.from_response((yield Call("GET", resource_path("/v1/jobs", job_id))))


def cancel_job(job_id: str) -> Flow[Job]:
    # The server's cancel is idempotent by itself (a cancelled job answers the same again), so any try may be resent.
    return Job.from_response((yield Call("POST", resource_path("/v1/jobs", job_id) + "/cancel")))


def wait_for_job(job_id: str, timeout: float) -> Flow[Job]:
    return (yield from wait_until_done(resource_path("/v1/jobs", job_id), Job, timeout))


def list_jobs(filters: dict[str, str], limit: int | None, page_size: int | None) -> Flow[list[Job]]:
    """Every page of ``GET /v1/jobs`` up to ``limit`` jobs, as one list."""
    pages = job_pages(filters, limit, page_size)
    jobs: list[Job] = []
    while (call := pages.next_call()) is not None:
        jobs.extend(pages.take((yield call)))
    return jobs


def review_queue(limit: int | None, page_size: int | None, **filters: Any) -> Flow[list[ReviewItem]]:
    """Every page of ``GET /v1/review`` (oldest first) up to ``limit`` items, as one list."""
    pages = Pages("/v1/review", ReviewItem, query(**filters), limit, page_size)
    items: list[ReviewItem] = []
    while (call := pages.next_call()) is not None:
        items.extend(pages.take((yield call)))
    return items


def decide(
    evaluation_id: str, decision: Literal["approve", "reject"], note: str | None, regenerate: bool, force: bool = False
) -> Flow[Decision]:
    body = {"decision": decision, "note": note, "regenerate": regenerate} | ({"force": True} if force else {})
    path = resource_path("/v1/review", evaluation_id) + "/decision"
    # Decisions are not deduplicated by the server: retried only where the first try surely did nothing.
    return Decision.from_response((yield post(path, replay_safe=False, json=body)))


def download(image: ImageRef | str) -> Flow[bytes]:
    return (yield download_call(image)).content


def wait_until_done(path: str, model: type[ResultT], timeout: float) -> Flow[ResultT]:
    """Long-polls ``path`` until its evaluation or job is final; :class:`SentinelTimeout` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = model.from_response((yield wait_call(path, deadline - time.monotonic())))
        if result.done:
            return result
        if time.monotonic() >= deadline:
            state = result.raw.get("status") or result.raw.get("state")
            raise SentinelTimeout(f"{result.id} is still {state} after {timeout:g} s", last=result)
