"""Fetch caller-supplied URLs without letting them reach the inside of our network.

A URL from a caller can name anything the server can reach: the cloud metadata
endpoint, a database on the private network, an admin port on localhost. So every
hop (the first URL and each redirect) is checked before any connection is made:
the scheme must be http or https, and every address the host resolves to must be
public unless it lies in an explicitly allowed network.

The request then goes to the address that was checked rather than to the name, so
a DNS answer that changes between the check and the connect (DNS rebinding) cannot
slip a private address through; the original ``Host`` header and, for https, the
TLS server name keep virtual hosting and certificate verification working.

Bodies are capped in size while streaming, and the whole fetch, redirects and body
included, in time. Every failure surfaces as a :class:`~sentinel.errors.SentinelError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from sentinel.errors import DisallowedURL, FetchFailed, ImageTooLarge, SentinelError, format_size
from sentinel.net.untrusted import storable_text

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``; tests and callers with their own DNS plug in here.
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Anything else (file:, ftp:, gopher:, data:...) reads local files or talks to
#: non-HTTP services in ways the address check cannot reason about.
ALLOWED_SCHEMES: frozenset[str] = frozenset({"http", "https"})

#: Statuses whose ``Location`` we follow; 300 and 304 name no single target.
REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})

#: NAT64 (RFC 6052) addresses embed an IPv4 address that a gateway forwards to;
#: the embedded address must pass the same check or ``64:ff9b::10.0.0.1`` walks around it.
NAT64_PREFIX: ipaddress.IPv6Network = ipaddress.IPv6Network("64:ff9b::/96")

#: Where names of the ``localhost`` domain lead, without asking a resolver.
LOOPBACK: ipaddress.IPv4Address = ipaddress.IPv4Address("127.0.0.1")

#: How long :func:`check_url` waits for a name's addresses (the request that gave the URL waits as long).
CHECK_SECONDS: float = 10.0

#: URLs are echoed in error messages; a data: URL or a hostile redirect can be megabytes long.
MAX_URL_IN_MESSAGE: int = 200
#: A server's own words quoted in an error message (its status text, a host or scheme it redirected to, an HTTP
#: library's complaint about its answer): an HTTP client reads up to 100 KB of them, and the message ends up in
#: stored rows (a job's reason, a provider call's error) and in logs.
MAX_WORDS_IN_MESSAGE: int = 200

#: ``identity`` keeps Content-Length comparable with the size cap (httpx would still
#: decode a compressed body, and the cap applies to the decoded bytes either way).
REQUEST_HEADERS: dict[str, str] = {
    "Accept": "image/*, */*;q=0.5",
    "Accept-Encoding": "identity",
    "User-Agent": "Sentinel-fetch/1",
}


@dataclass(frozen=True)
class FetchedBody:
    content: bytes
    #: As the server said; never trusted for the image type, the bytes are sniffed instead.
    content_type: str | None
    #: Where the body actually came from, after redirects (with the host name, not the IP).
    final_url: str


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 3,
    allowed_networks: Sequence[IPNetwork] = (),
    resolver: Resolver | None = None,
    field: str | None = None,
    client: httpx.AsyncClient | None = None,
    trusted_origin: str | None = None,
) -> FetchedBody:
    """GET ``url`` with the SSRF, redirect, size and time guards described in the module docstring.

    ``field`` names the request field the URL came from; it leads error messages and
    is set on every raised error. ``client`` lets a caller share a connection pool
    (redirects are never followed by it, whatever its settings); without one, a
    private client is opened and closed for this fetch.
    ``trusted_origin`` (a URL, e.g. a provider's configured ``base_url``): a hop to that
    same host and port may reach a private address. The operator who configured it
    already has Sentinel send requests (and keys) there; any other host is checked
    as usual.

    Raises :class:`DisallowedURL`, :class:`FetchFailed` or :class:`ImageTooLarge`.
    """
    fetch = _Fetch(
        max_bytes=max_bytes,
        timeout=timeout,
        max_redirects=max_redirects,
        allowed_networks=tuple(allowed_networks),
        resolver=resolver or _getaddrinfo,
        field=field,
        trusted=_origin(trusted_origin),
    )
    try:
        async with asyncio.timeout(timeout):
            if client is not None:
                return await fetch.run(url, client)
            # trust_env=False: proxies and .netrc credentials from the environment must not
            # apply to URLs a caller chose.
            async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as own_client:
                return await fetch.run(url, own_client)
    except SentinelError:
        raise
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise FetchFailed(f"timed out after {timeout:g} s fetching {_shorten(str(url))}", field=field) from exc
    except Exception as exc:
        raise FetchFailed(
            f"could not fetch {_shorten(str(url))}: unexpected {type(exc).__name__}", field=field
        ) from exc


class HostNotResolved(FetchFailed):
    """The host's name gave no address (no such name, or the resolver failed or said nothing useful)."""


def check_url(
    url: str,
    allowed_networks: Sequence[IPNetwork] = (),
    field: str | None = None,
    resolver: Resolver | None = None,
) -> None:
    """Refuse now, with a clear error, a URL that a later fetch or POST is certain to refuse: not an http(s) URL, a
    literal address that is not public, a name that resolves to one.

    A name that does not resolve now is let through: a resolver's hiccup passes, and a receiver's DNS record may be
    created after the job; the delivery checks the address again (and is retried). Call it from synchronous code
    (a worker thread).
    """
    checker = _Fetch(0, CHECK_SECONDS, 0, tuple(allowed_networks), resolver or _getaddrinfo, field)
    hop = _Hop(checker.subject, f"{checker.subject} host")
    parsed = checker._parse(url, hop.where)

    async def check() -> None:
        await checker._checked_addresses(parsed, hop)

    try:
        asyncio.run(asyncio.wait_for(check(), timeout=CHECK_SECONDS))
    except (HostNotResolved, TimeoutError):
        # Only the lookup can time out here (nothing is connected to).
        logger.info(
            "%s host %s does not resolve now; accepted, the delivery checks it again",
            checker.subject,
            _host(parsed.host),
        )
    except SentinelError:
        raise
    except Exception as exc:
        raise FetchFailed(f"could not check {_shorten(url)}: {type(exc).__name__}", field=field) from exc


@dataclass(frozen=True)
class PostAnswer:
    """What a POST to a caller-chosen URL was answered: its status, and where a redirect points (not followed)."""

    status: int
    #: The Location of a 3xx answer as the server sent it (shortened), None otherwise.
    location: str | None = None


async def post_to_url(
    url: str,
    content: bytes,
    *,
    headers: dict[str, str],
    timeout: float,
    allowed_networks: Sequence[IPNetwork] = (),
    resolver: Resolver | None = None,
    field: str | None = None,
) -> PostAnswer:
    """POST ``content`` to a caller-chosen URL (webhooks) under the same address checks as ``fetch_url``.

    Redirects are not followed (the target was never checked); a redirect's Location is returned so the caller can
    say where it points. Raises :class:`DisallowedURL` or :class:`FetchFailed`.
    """
    poster = _Fetch(
        max_bytes=0,
        timeout=timeout,
        max_redirects=0,
        allowed_networks=tuple(allowed_networks),
        resolver=resolver or _getaddrinfo,
        field=field,
    )
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
                return await poster.post(url, content, headers, client)
    except SentinelError:
        raise
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise FetchFailed(f"timed out after {timeout:g} s posting to {_shorten(str(url))}", field=field) from exc
    except Exception as exc:
        raise FetchFailed(f"could not post to {_shorten(str(url))}: {type(exc).__name__}", field=field) from exc


@dataclass(frozen=True)
class _Hop:
    """How errors name the URL being checked: the caller's own, or where a redirect led."""

    #: "image_url" or "image_url redirected to X, which"; followed by "points to ...".
    where: str
    #: "image_url host" or "image_url redirected to X, whose host"; followed by "'name' resolves to".
    whose_host: str


def _origin(url: str | None) -> tuple[str, int] | None:
    """The (host, port) of a URL as hops are compared with it; None for no URL or one without a host."""
    if not url:
        return None
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if not parsed.raw_host or parsed.scheme not in ALLOWED_SCHEMES:
        return None
    return parsed.raw_host.decode("ascii").lower().removesuffix("."), parsed.port or _default_port(parsed.scheme)


#: Named in the refusal of a private address: the setting that lets one through.
ALLOW_SETTING = "SENTINEL_FETCH_ALLOWED_NETWORKS"


@dataclass(frozen=True)
class _Fetch:
    max_bytes: int
    timeout: float
    max_redirects: int
    allowed_networks: tuple[IPNetwork, ...]
    resolver: Resolver
    field: str | None
    #: (host, port) whose addresses are allowed whatever they are (see fetch_url's ``trusted_origin``).
    trusted: tuple[str, int] | None = None

    @property
    def subject(self) -> str:
        return self.field or "the URL"

    @property
    def reached(self) -> str:
        """What is done to the URL, in the refusal's words: a callback is posted to, the rest are fetched."""
        return "posted to" if self.field == "callback_url" else "fetched"

    async def run(self, url: str, client: httpx.AsyncClient) -> FetchedBody:
        hop = _Hop(self.subject, f"{self.subject} host")
        current = self._parse(url, hop.where)
        redirects = 0
        while True:
            addresses = await self._checked_addresses(current, hop)
            response = await self._send(client, current, addresses)
            try:
                if response.status_code in REDIRECT_STATUSES:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchFailed(
                            f"{_shorten(str(current))} answered HTTP {response.status_code} "
                            "without a Location to redirect to",
                            field=self.field,
                        )
                    if redirects >= self.max_redirects:
                        raise DisallowedURL(
                            f"too many redirects (max {self.max_redirects}) fetching {_shorten(url)}",
                            field=self.field,
                        )
                    redirects += 1
                    current, hop = self._follow(current, location)
                    continue
                if not 200 <= response.status_code < 300:
                    reason = f" {_words(response.reason_phrase)}" if response.reason_phrase else ""
                    raise FetchFailed(
                        f"{_shorten(str(current))} answered HTTP {response.status_code}{reason}",
                        field=self.field,
                    )
                content = await self._read_capped(response, current)
                return FetchedBody(
                    content=content,
                    content_type=response.headers.get("content-type"),
                    final_url=str(current),
                )
            except httpx.TimeoutException:
                raise  # reported by fetch_url with the overall timeout
            except httpx.HTTPError as exc:
                raise FetchFailed(
                    f"could not fetch {_shorten(str(current))}: {_reason(exc)}", field=self.field
                ) from exc
            finally:
                await response.aclose()

    async def post(self, url: str, content: bytes, headers: dict[str, str], client: httpx.AsyncClient) -> PostAnswer:
        """POST to a checked address (no redirects followed): its status, and a redirect's Location."""
        hop = _Hop(self.subject, f"{self.subject} host")
        current = self._parse(url, hop.where)
        addresses = await self._checked_addresses(current, hop)
        response = await self._send(client, current, addresses, "POST", content, headers)
        await response.aclose()
        location = response.headers.get("location") if response.is_redirect else None
        return PostAnswer(response.status_code, _shorten(location) if location else None)

    def _parse(self, url: str, where: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise DisallowedURL(f"{where} is not a valid URL: {_words(str(exc))}", field=self.field) from exc
        return self._validate(parsed, where)

    def _follow(self, base: httpx.URL, location: str) -> tuple[httpx.URL, _Hop]:
        """The next URL, resolved against ``base`` as browsers do, and how to name it in errors."""
        try:
            joined = base.join(location)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise DisallowedURL(
                f"{self.subject} redirected to {_shorten(location)}, which is not a valid URL: {_words(str(exc))}",
                field=self.field,
            ) from exc
        # Named as the server sent it: that is what someone debugging will find in its response.
        target = f"{self.subject} redirected to {_shorten(location)}"
        hop = _Hop(f"{target}, which", f"{target}, whose host")
        return self._validate(joined, hop.where), hop

    def _validate(self, url: httpx.URL, where: str) -> httpx.URL:
        if not url.scheme:
            raise DisallowedURL(
                f"{where} has no scheme; only http and https URLs may be {self.reached}", field=self.field
            )
        if url.scheme not in ALLOWED_SCHEMES:
            raise DisallowedURL(
                f"{where} uses the scheme '{_words(url.scheme)}:'; only http and https URLs may be {self.reached}",
                field=self.field,
            )
        if not url.raw_host:
            raise DisallowedURL(f"{where} has no host", field=self.field)
        if url.userinfo:
            raise DisallowedURL(
                f"{where} contains credentials (user:password@); URLs with credentials are not fetched",
                field=self.field,
            )
        if url.port is not None and not 0 < url.port < 65536:
            raise DisallowedURL(f"{where} has an invalid port {_words(str(url.port))}", field=self.field)
        return url

    async def _checked_addresses(self, url: httpx.URL, hop: _Hop) -> list[IPAddress]:
        """Every address of ``url``'s host, all allowed; raises if any is not."""
        host = url.raw_host.decode("ascii")
        # "127.0.0.1." is the same address written as a fully qualified name; never a name to look up.
        literal = _parse_ip(host.removesuffix("."))
        if literal is not None:
            addresses = [literal]
        elif _is_localhost_name(host):
            # RFC 6761: these names are loopback, whatever a resolver would make of them (some fail, some don't).
            addresses = [LOOPBACK]
        else:
            addresses = await self._resolve(host, url.port or _default_port(url.scheme))
        checked: list[IPAddress] = []
        origin = (host.lower().removesuffix("."), url.port or _default_port(url.scheme))
        trusted = self.trusted is not None and origin == self.trusted
        for address in addresses:
            usable = _unmap(address)
            if not trusted and not self._allowed(usable):
                lead = (
                    f"{hop.where} points to"
                    if literal is not None
                    else f"{hop.whose_host} {_host(url.host)} resolves to"
                )
                raise DisallowedURL(
                    f"{lead} {usable}, {_describe(usable)}; only public addresses may be {self.reached}"
                    f"{self._how_to_allow(usable)}",
                    field=self.field,
                )
            if usable not in checked:
                checked.append(usable)
        return checked

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            answers = await self.resolver(host, port)
        except SentinelError:
            raise
        except Exception as exc:
            raise HostNotResolved(f"could not resolve host {_host(host)}", field=self.field) from exc
        addresses: list[IPAddress] = []
        for answer in answers:
            address = _parse_ip(str(answer))
            if address is None:
                raise HostNotResolved(
                    f"could not resolve host {_host(host)}: the resolver returned {_words(repr(answer))}, "
                    "not an address",
                    field=self.field,
                )
            addresses.append(address)
        if not addresses:
            raise HostNotResolved(f"could not resolve host {_host(host)}", field=self.field)
        return addresses

    def _how_to_allow(self, address: IPAddress) -> str:
        """For a fetch whose host the operator chose (a provider's output, see ``trusted``), the setting that lets
        a private address through: its caller's own URLs are never told how to reach the inside."""
        if self.trusted is None:
            return ""
        return f" (allow its network with {ALLOW_SETTING}, e.g. {ipaddress.ip_network(address)}, if it is yours)"

    def _allowed(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed_networks):
            return True
        if not _is_public(address):
            return False
        # An IPv6 address that a gateway translates to IPv4 is only as public as that IPv4.
        if isinstance(address, ipaddress.IPv6Address):
            embedded = address.sixtofour
            if address in NAT64_PREFIX:
                embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            if embedded is not None:
                return self._allowed(embedded)
        return True

    async def _send(
        self,
        client: httpx.AsyncClient,
        url: httpx.URL,
        addresses: list[IPAddress],
        method: str = "GET",
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send to a checked address in turn until one accepts the connection."""
        last_error: httpx.ConnectError | None = None
        for address in addresses:
            request = _build_request(client, url, address, self.timeout, method, content, headers)
            try:
                return await client.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError as exc:
                last_error = exc
            except httpx.TimeoutException:
                raise
            except httpx.HTTPError as exc:
                raise FetchFailed(f"could not fetch {_shorten(str(url))}: {_reason(exc)}", field=self.field) from exc
        raise FetchFailed(
            f"could not connect to {_host(url.host)} for {_shorten(str(url))}: {_reason(last_error)}",
            field=self.field,
        ) from last_error

    async def _read_capped(self, response: httpx.Response, url: httpx.URL) -> bytes:
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(url)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise self._too_large(url)
        return bytes(body)

    def _too_large(self, url: httpx.URL) -> ImageTooLarge:
        return ImageTooLarge(
            f"the file at {_shorten(str(url))} is larger than the {format_size(self.max_bytes)} limit",
            field=self.field,
        )


def _build_request(
    client: httpx.AsyncClient,
    url: httpx.URL,
    address: IPAddress,
    timeout: float,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Request:
    """A request to ``address`` that the server and TLS still see as being for ``url``'s host."""
    host = url.raw_host.decode("ascii")
    authority = f"[{host}]" if ":" in host else host
    if url.port is not None:
        authority += f":{url.port}"
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    return client.build_request(
        method,
        url.copy_with(host=str(address)),
        content=content,
        headers={**REQUEST_HEADERS, **(headers or {}), "Host": authority},
        extensions=extensions,
        timeout=httpx.Timeout(timeout),
    )


async def _getaddrinfo(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _is_localhost_name(host: str) -> bool:
    name = host.lower().removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _unmap(address: IPAddress) -> IPAddress:
    """``::ffff:10.0.0.1`` reaches 10.0.0.1, so it is checked (and connected to) as that."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_public(address: IPAddress) -> bool:
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _describe(address: IPAddress) -> str:
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    return "a non-public address"


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _cut(text: str, limit: int) -> str:
    """``text`` fit to quote in a message that may be stored: NUL and lone surrogates dropped, at most ``limit``
    characters (a cut one ends in "...")."""
    text = storable_text(text)
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def _shorten(text: str) -> str:
    return _cut(text, MAX_URL_IN_MESSAGE)


def _words(text: str) -> str:
    return _cut(text, MAX_WORDS_IN_MESSAGE)


def _host(host: str) -> str:
    """A host name as messages quote it; a redirect's can be as long as the server likes."""
    return repr(_words(host))


def _reason(exc: BaseException | None) -> str:
    """An exception's text (an HTTP library's, which may quote what the server sent) as messages quote it."""
    if exc is None:
        return "no address to connect to"
    return _words(str(exc) or type(exc).__name__)
