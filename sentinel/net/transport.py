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

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from yarl import URL

#: Request headers aiohttp must not add on its own: httpx already sent the ones it wanted.
_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
#: Headers that describe the body's framing; aiohttp frames the bytes it is given itself.
_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


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


@contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise _as_httpx_error(exc, request) from exc


class _ResponseBody(httpx.AsyncByteStream):
    """The answer's body as aiohttp receives it: whatever arrived, without splitting it into smaller pieces."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; closed otherwise. (An awaitable in every aiohttp 3.)
        await self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncClient`` transport over one ``aiohttp.ClientSession``, opened on first use in the
    running loop. Redirects, cookies and content decoding stay httpx's: aiohttp only carries bytes."""

    def __init__(self, limits: httpx.Limits, verify: bool = True) -> None:
        self._limits = limits
        self._verify = verify
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
        with _httpx_errors(request):
            response = await self._session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, request),
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


def provider_client(limits: httpx.Limits, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The client provider adapters share. ``trust_env=False``: the host's proxy variables must not silently
    reroute provider traffic."""
    client = httpx.AsyncClient(
        transport=AiohttpTransport(limits), limits=limits, timeout=timeout, trust_env=False, follow_redirects=False
    )
    # Set on the attribute itself: the ``cookies`` setter would copy the jar into a plain httpx.Cookies.
    client._cookies = _CookiesWhenSet()
    return client
