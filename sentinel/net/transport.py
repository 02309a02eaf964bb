"""The HTTP client the provider adapters share: httpx's API on aiohttp's connection pool and C HTTP parser.

An image answer is megabytes of JSON. httpx's own transport (httpcore and h11, pure Python) reads it in
64 KiB steps that each cross several layers of Python; on this project's 2-core benchmark machine that
is ~3 ms of CPU for a 1 MiB image, against ~0.7 ms through aiohttp. The adapters keep speaking httpx
(requests, responses, timeouts, error types); only the bytes on the wire go through aiohttp.

httpx-aiohttp exists and the OpenAI SDK uses it, but it reports a dropped connection as a connect
timeout, lets a malformed answer escape as an aiohttp error, and re-chunks bodies into 16 KiB pieces:
the adapters classify failures by httpx's error types, so the mapping here is our own.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

import aiohttp
import aiohttp.payload
import httpx
from aiohttp.abc import AbstractStreamWriter
from yarl import URL

from sentinel.net.cut_answers import AnswerBrokeOff
from sentinel.settings import get_settings

#: Request headers aiohttp must not add on its own: httpx already sent the ones it wanted.
_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
#: Headers that describe the body's framing; aiohttp frames the bytes it is given itself.
_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
#: Answer headers that no longer hold once the transport has decoded the body itself.
_ENCODING_HEADERS = frozenset({b"content-encoding", b"content-length"})
#: zlib window bits per content coding httpx would decode (the only ones it can without brotli/zstandard).
_INFLATE_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
#: The most a decoder hands on at once: a gzip bomb expands ~1000-fold, so one 64 KiB network read decoded
#: in one go would already be 64 MiB.
_INFLATE_STEP = 256 * 1024
#: A request extension (``extensions={READ_WHOLE: True}``): the transport reads the answer's body whole before it
#: returns, for a caller that reads it whole anyway (``client.post`` without streaming). Not for a caller that
#: streams the body, which would get it only once all of it had come.
READ_WHOLE = "sentinel.read_whole"
#: A request extension (``extensions={ON_REQUEST_SENT: callback}``): the transport calls ``callback()`` once the
#: request's body was written to the connection in full, so a caller that stops waiting later knows the provider had
#: the whole request (an image provider may then be making, and billing, it: ``sentinel.providers._http``). Never
#: called for a request that went out only in part, or not at all (no connection in time).
ON_REQUEST_SENT = "sentinel.on_request_sent"
#: Room above the base64 of the images an answer holds: its JSON keys, a revised prompt, an error text.
ANSWER_SLACK_BYTES = 1024 * 1024


def answer_limit(max_image_bytes: int, images: int = 1) -> int:
    """The most (decoded) bytes a provider's answer may hold: ``images`` images of up to ``max_image_bytes``
    each, base64-encoded in JSON (4/3 of the bytes), and some slack. The adapters ask for one image per call."""
    return images * -(-max_image_bytes * 4 // 3) + ANSWER_SLACK_BYTES


class AnswerTooLarge(httpx.DecodingError):
    """The provider's answer (decoded) is larger than the client takes; it was not read further."""

    def __init__(self, limit: int, request: httpx.Request, status_code: int | None = None) -> None:
        super().__init__(f"the answer is larger than {limit} bytes", request=request)
        self.limit = limit
        #: The answer's status: a 2xx cut here may be a finished, billed generation.
        self.status_code = status_code


def _as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error an aiohttp failure stands for, so adapters tell timeouts from refusals as before."""
    message = str(exc) or type(exc).__name__
    error: httpx.TransportError
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx.ConnectTimeout(message, request=request)
    elif isinstance(exc, aiohttp.SocketTimeoutError):
        error = httpx.ReadTimeout(message, request=request)
    elif isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        error = httpx.TimeoutException(message, request=request)
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError(message, request=request)
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        error = httpx.RemoteProtocolError(message, request=request)
    elif isinstance(exc, aiohttp.InvalidURL):
        error = httpx.UnsupportedProtocol(message, request=request)
    elif isinstance(exc, aiohttp.ClientOSError):
        error = httpx.ReadError(message, request=request)
    else:
        error = httpx.TransportError(message, request=request)
    return error


_T = TypeVar("_T")


class ClientGone(Exception):
    """The client the provider call was made for disconnected while it was in flight (or the server is stopping and
    will not wait for it): the call was abandoned."""


class ClientWatch:
    """Whether the client a request serves is still waited for, as the provider calls made for it see it: ``gone()``
    (called by whoever watches the client, or by the server when it stops) abandons every call in flight through
    ``until_client_gone``. ``stopping``: it was the server, not the client."""

    __slots__ = ("_calls", "is_gone", "stopping")

    def __init__(self) -> None:
        self.is_gone = False
        self.stopping = False
        self._calls: dict[asyncio.Task[object], bool] = {}

    def gone(self, *, stopping: bool = False) -> None:
        if self.is_gone:
            return
        self.is_gone = True
        self.stopping = stopping
        for task in self._calls:
            self._calls[task] = True
            task.cancel("the client disconnected" if not stopping else "the server is stopping")


#: The watch of the request being served, if its server watches its client (the gateway does); tasks the request
#: starts (one per image) inherit it.
CLIENT_WATCH: ContextVar[ClientWatch | None] = ContextVar("sentinel_client_watch", default=None)
#: Every watch of a request being served in this process, for ``stop_provider_calls``.
LIVE_WATCHES: set[ClientWatch] = set()


def stop_provider_calls() -> int:
    """Abandon the provider calls in flight of every watched request, so that each still answers (an error saying
    the server is stopping) before the server's grace period ends. Returns how many requests were told."""
    watches = list(LIVE_WATCHES)
    for watch in watches:
        watch.gone(stopping=True)
    return len(watches)


async def until_client_gone(call: Coroutine[object, object, _T]) -> _T:
    """``call``'s result; raises ClientGone if the client this request serves disconnects before it is done (or had
    already: a polling adapter's next poll is not sent). The cancellation stays inside: whoever made the call gets
    an error to log and classify, not a cancelled task. Calls made otherwise (a polling adapter cancelling its job
    on the provider) are not affected."""
    watch = CLIENT_WATCH.get()
    if watch is None:
        return await call
    if watch.is_gone:
        call.close()
        raise ClientGone()
    task = asyncio.current_task()
    if task is None or task in watch._calls:
        return await call
    watch._calls[task] = False
    try:
        return await call
    except asyncio.CancelledError:
        if watch._calls[task] and task.uncancel() == 0:
            raise ClientGone() from None
        raise  # cancelled by someone else (a deadline, the server stopping) too: theirs to handle
    finally:
        del watch._calls[task]


@contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise _as_httpx_error(exc, request) from exc


class _Inflater:
    """One zlib content coding, decoded in pieces of at most ``_INFLATE_STEP`` bytes however much the input
    expands. Like httpx's decoder, ``deflate`` falls back to a raw stream when the first bytes are no zlib header."""

    def __init__(self, coding: str) -> None:
        self._raw_fallback = coding == "deflate"
        self._zlib = zlib.decompressobj(_INFLATE_WBITS[coding])

    def decode(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                piece = self._zlib.decompress(data, _INFLATE_STEP)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                self._raw_fallback = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            data = self._zlib.unconsumed_tail
            if piece:
                yield piece
            # A full piece may leave output inside zlib with no input left: ask again until a short piece.
            if not data and len(piece) < _INFLATE_STEP:
                return


def _decoded(chunk: bytes, inflaters: list[_Inflater]) -> Iterator[bytes]:
    """``chunk`` through each coding in turn (``inflaters`` start with the coding the provider applied last)."""
    if not inflaters:
        yield chunk
        return
    first, rest = inflaters[0], inflaters[1:]
    for piece in first.decode(chunk):
        yield from _decoded(piece, rest)


async def _data_of(chunks: AsyncIterator[tuple[bytes, bool]]) -> AsyncIterator[bytes]:
    """The data of aiohttp's ``iter_chunks``: each piece as it was received, never joined with the next."""
    async for data, _ in chunks:
        if data:
            yield data


class _ResponseBody(httpx.AsyncByteStream):
    """The answer's body as aiohttp receives it: whatever arrived, without splitting it into smaller pieces, decoded
    here when it came gzip/deflate-encoded (so its decoded size is known while it is read), and never more than
    ``limit`` decoded bytes: past that it raises ``AnswerTooLarge`` and drops the connection."""

    def __init__(
        self, response: aiohttp.ClientResponse, request: httpx.Request, inflaters: list[_Inflater], limit: int | None
    ) -> None:
        self._response = response
        self._request = request
        self._inflaters = inflaters
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._pieces(self._response.content.iter_any()):
            yield piece

    async def read_whole(self) -> bytes:
        """The whole body in one piece, joined once from the pieces as they arrived: for an answer its caller reads
        whole anyway. Streamed through httpx, a 1 MiB image's answer crossed five layers of iterators per piece, was
        joined by aiohttp as it was taken and again by httpx (~0.35 ms of CPU more than this)."""
        try:
            pieces = [piece async for piece in self._pieces(_data_of(self._response.content.iter_chunks()))]
        finally:
            await self.aclose()
        return b"".join(pieces)

    async def _pieces(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``chunks`` decoded, and never more than the limit in all."""
        limit = self._limit if self._limit is not None else sys.maxsize
        declared = self._response.content_length
        if not self._inflaters and declared is not None and declared > limit:
            self._response.close()
            raise AnswerTooLarge(limit, self._request, self._response.status)
        room = limit
        received = 0
        try:
            with _httpx_errors(self._request):
                async for chunk in chunks:
                    received += len(chunk)
                    try:
                        for piece in _decoded(chunk, self._inflaters):
                            room -= len(piece)
                            if room < 0:
                                # Nothing more of it is wanted, and a connection cannot be reused mid-body.
                                self._response.close()
                                raise AnswerTooLarge(limit, self._request, self._response.status)
                            yield piece
                    except zlib.error as exc:
                        self._response.close()
                        raise httpx.DecodingError(
                            f"the answer's content coding is broken: {exc}", request=self._request
                        ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The status and headers came, then the body broke off: said with the status, which the caller needs (a
            # provider's 200 that broke off is an image made and billed, not a provider that could not be reached).
            raise AnswerBrokeOff(self._response.status, received, declared, str(exc), self._request) from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; closed otherwise. (An awaitable in every aiohttp 3.)
        await self._response.release()


class _NotedBody(aiohttp.payload.BytesPayload):
    """A request body that calls ``on_sent`` once written in full (see ``ON_REQUEST_SENT``)."""

    def __init__(self, value: bytes, on_sent: Callable[[], None]) -> None:
        super().__init__(value)
        self._on_sent = on_sent

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        await super().write_with_length(writer, content_length)
        self._on_sent()

    async def write(self, writer: AbstractStreamWriter) -> None:
        # aiohttp before 3.12 writes a payload with this.
        await super().write(writer)
        self._on_sent()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncClient`` transport over one ``aiohttp.ClientSession``, opened on first use in the
    running loop. Redirects, cookies and content decoding stay httpx's: aiohttp only carries bytes."""

    def __init__(self, limits: httpx.Limits, verify: bool = True, max_answer_bytes: int | None = None) -> None:
        self._limits = limits
        self._verify = verify
        self._max_answer_bytes = max_answer_bytes
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            ssl=httpx.create_ssl_context(trust_env=False) if self._verify else False,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None or self._session.closed:
            self._session = self._open()
        body = await request.aread()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _FRAMING_HEADERS
        ]
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        on_sent = request.extensions.get(ON_REQUEST_SENT)
        data: bytes | aiohttp.payload.Payload | None = body or None
        if on_sent is not None and body:
            data = _NotedBody(body, on_sent)
        with _httpx_errors(request):
            response = await self._session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
            )
        codings = [c.strip().lower() for c in response.headers.get("Content-Encoding", "").split(",")]
        # httpx would decode these after reading them whole; decoded here instead, in bounded pieces. (httpx skips
        # codings it does not know, and so does this.)
        inflaters = [_Inflater(coding) for coding in reversed(codings) if coding in _INFLATE_WBITS]
        headers = response.raw_headers
        if inflaters:
            headers = tuple((name, value) for name, value in headers if name.lower() not in _ENCODING_HEADERS)
        body = _ResponseBody(response, request, inflaters, self._max_answer_bytes)
        stream: httpx.AsyncByteStream = body
        if request.extensions.get(READ_WHOLE):
            stream = httpx.ByteStream(await body.read_whole())
        return httpx.Response(
            status_code=response.status,
            headers=headers,
            stream=stream,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode("latin-1")},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _CookiesWhenSet(httpx.Cookies):
    """httpx's cookie jar, read only from answers that set a cookie. httpx hands every answer to
    ``http.cookiejar``, which wraps it and its request in urllib objects (parsing the URL again) even when there is
    no ``Set-Cookie`` header: on a provider call that was more CPU than the rest of httpx's own work."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def provider_client(
    limits: httpx.Limits, timeout: httpx.Timeout, max_answer_bytes: int | None = None
) -> httpx.AsyncClient:
    """The client provider adapters share. ``trust_env=False``: the host's proxy variables must not silently
    reroute provider traffic. No answer may decode to more than ``max_answer_bytes`` (default: one image of
    ``SENTINEL_MAX_IMAGE_BYTES`` as base64 JSON, see ``answer_limit``): a provider's answer is read into memory,
    and a misbehaving one (or a 300 MB gzip bomb) must fail the call, not the process."""
    if max_answer_bytes is None:
        max_answer_bytes = answer_limit(get_settings().max_image_bytes)
    transport = AiohttpTransport(limits, max_answer_bytes=max_answer_bytes)
    client = httpx.AsyncClient(
        transport=transport, limits=limits, timeout=timeout, trust_env=False, follow_redirects=False
    )
    # Set on the attribute itself: the ``cookies`` setter would copy the jar into a plain httpx.Cookies.
    client._cookies = _CookiesWhenSet()
    return client
