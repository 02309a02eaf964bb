"""Running a fake provider (a Starlette app) with uvicorn in a background thread, scripting its answers, and the
pieces every fake answers with alike: credential checks, Retry-After, generated images and the files it serves."""

from __future__ import annotations

import asyncio
import collections
import io
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from PIL import Image, ImageDraw
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

#: The behaviours every fake understands; each provider answers them in its own way.
BEHAVIOURS = (
    "ok",  # a normal success
    "rate_limit",  # 429 with Retry-After
    "unavailable",  # 503
    "overloaded",  # 503 with Retry-After: an outage that says when to come back
    "slow",  # answers after Script.slow_seconds
    "content_filter",  # the provider's own refusal (status code or a 200 with a safety reason)
    "empty",  # 200 with no image at all
    "drift",  # success, but a known field moved (the image is clearly there)
    "octet_url",  # success with a URL output that serves application/octet-stream
    "blank",  # success with a uniform black image (how some providers hide a filter)
    "bad_auth",  # 401
    "unknown_list",  # 200 whose images sit under a list key no documented shape has ({"results": [...]})
    "unknown_item",  # 200 with the documented list, each image under a key no documented shape has
    "cut",  # a success whose body breaks off halfway: its Content-Length promised the whole answer
    "moved",  # 301 with an HTML page and a Location elsewhere (an address that moved, a wrong base_url)
    "flaky_url",  # success with a URL output whose first download answers 502, as a CDN's passing failure
    "no_credit",  # the account has no credit: OpenAI's 429 insufficient_quota (no Retry-After), Replicate's 402
    "private_url",  # success with a URL output on a private address other than the provider's own host (refused)
    "giant",  # success (200, chunked JSON) whose one image is Script.giant_bytes of base64: larger than a gateway reads
    "wrong_key",  # 401 quoting the key it was sent in part (its start and last four), as OpenAI's "Incorrect API key"
)


@dataclass
class Script:
    """What a fake answers: queued behaviours first (one per request), then ``default``."""

    default: str = "ok"
    slow_seconds: float = 2.0
    #: How many base64 characters a 'giant' answer's image holds.
    giant_bytes: int = 64 * 1024 * 1024
    retry_after: int = 1
    #: Size of the generated image when the request does not say.
    width: int = 64
    height: int = 64
    queue: collections.deque[str] = field(default_factory=collections.deque)
    #: Images served by successful answers, one per answer, before falling back to ``image()``'s default.
    images: collections.deque[bytes] = field(default_factory=collections.deque)
    #: Random failures when the queue is empty: behaviour → probability, e.g. {"rate_limit": 0.3}.
    chaos: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    #: Every request the fake received (method, path, parsed body), for assertions.
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Model ids the provider no longer serves (retired, shut down): it answers them with its own "not found".
    missing_models: set[str] = field(default_factory=set)
    #: Chooses a successful answer's image from the request body (model, prompt), before ``images``: a test whose
    #: verdicts must not depend on the order concurrent requests arrive in (providers of known quality).
    pick: Callable[[dict[str, Any]], bytes] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def push(self, *behaviours: str) -> None:
        unknown = set(behaviours) - set(BEHAVIOURS)
        if unknown:
            raise ValueError(f"unknown behaviours {unknown}")
        with self._lock:
            self.queue.extend(behaviours)

    def next(self) -> str:
        with self._lock:
            if self.queue:
                return self.queue.popleft()
            roll = self._rng.random()
            for behaviour, probability in self.chaos.items():
                if roll < probability:
                    return behaviour
                roll -= probability
            return self.default

    def record(self, **request: Any) -> None:
        with self._lock:
            self.requests.append(request)

    def retry_after_headers(self) -> dict[str, str]:
        """The headers of a 'rate_limit' answer, whatever the provider's body: Retry-After, as every provider sends."""
        return {"retry-after": str(self.retry_after)}

    def image(self, behaviour: str, fixed: bytes | None = None, body: dict[str, Any] | None = None) -> bytes:
        """The image a successful answer carries: uniformly black for 'blank', else ``pick``'s choice for the request
        ``body``, or ``fixed`` (benchmarks pin the bytes) or a small PNG that differs from request to request."""
        if behaviour == "blank":
            return png_image(self.width, self.height, blank=True)
        if self.pick is not None and body is not None:
            return self.pick(body)
        with self._lock:
            if self.images:
                return self.images.popleft()
        return fixed if fixed is not None else png_image(self.width, self.height, seed=len(self.requests))

    def job_finishes(self, behaviour: str, created: float, polls: int, polls_to_finish: int) -> bool:
        """Whether a background job (a prediction, a queued request) finishes at this poll: after ``polls_to_finish``
        polls, so an adapter really has to poll, and for 'slow' only once ``slow_seconds`` have passed since it was
        created, so an adapter's deadline can pass first."""
        due = behaviour != "slow" or time.time() - created >= self.slow_seconds
        return polls >= polls_to_finish and due


def png_image(width: int = 64, height: int = 64, seed: int = 0, blank: bool = False) -> bytes:
    """A small valid PNG with some content (or uniformly black when ``blank``)."""
    image = Image.new("RGB", (width, height), (0, 0, 0) if blank else (40 + seed * 37 % 200, 120, 200))
    if not blank:
        draw = ImageDraw.Draw(image)
        draw.ellipse((width // 5, height // 5, width * 4 // 5, height * 4 // 5), fill=(240, 200, 40))
        draw.line((0, 0, width, height), fill=(255, 255, 255), width=max(1, width // 32))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def has_credentials(request: Request, scheme: str) -> bool:
    """Whether the request's Authorization header carries a credential of ``scheme`` ("Bearer", "Key")."""
    return request.headers.get("authorization", "").startswith(f"{scheme} ")


class StoredFiles:
    """Generated images a fake serves itself under ``/files/<id>.png``, as providers serve outputs from their CDN.

    Like those CDNs the files need no credentials, and an unknown one is a bare 404.
    """

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str]] = {}
        #: Files whose next download answers 502 (stored with 'flaky_url').
        self._failing_once: set[str] = set()
        #: Downloads asked for, answered or not.
        self.downloads = 0

    def __len__(self) -> int:
        return len(self._files)

    def store(self, base: str, key: str, data: bytes, behaviour: str) -> str:
        """Keeps ``data`` and returns its URL under ``base``; for 'octet_url' it is served as
        application/octet-stream, as some CDNs do, so that only the bytes can tell it is a PNG."""
        content_type = "application/octet-stream" if behaviour == "octet_url" else "image/png"
        self._files[key] = (data, content_type)
        if behaviour == "flaky_url":
            self._failing_once.add(key)
        return f"{base}/files/{key}.png"

    @property
    def route(self) -> Route:
        return Route("/files/{name}", self._serve, methods=["GET"])

    async def _serve(self, request: Request) -> Response:
        key = request.path_params["name"].removesuffix(".png")
        self.downloads += 1
        if key in self._failing_once:
            self._failing_once.discard(key)
            return Response(b"<html>502 Bad Gateway</html>", status_code=502, media_type="text/html")
        stored = self._files.get(key)
        if stored is None:
            return Response(status_code=404)
        data, content_type = stored
        return Response(data, media_type=content_type)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeServer:
    """A Starlette app served on 127.0.0.1 from a thread; ``url`` is its base URL."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake provider did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@contextmanager
def serve(app: Starlette) -> Iterator[FakeServer]:
    server = FakeServer(app).start()
    try:
        yield server
    finally:
        server.stop()


async def pause(seconds: float) -> None:
    """The 'slow' behaviour: bounded so a fake never hangs a test run."""
    await asyncio.sleep(min(seconds, 30.0))
