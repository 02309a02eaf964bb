"""Running a fake provider (a Starlette app) with uvicorn in a background thread, and scripting its answers."""

from __future__ import annotations

import asyncio
import collections
import io
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from PIL import Image, ImageDraw
from starlette.applications import Starlette

#: The behaviours every fake understands; each provider answers them in its own way.
BEHAVIOURS = (
    "ok",  # a normal success
    "rate_limit",  # 429 with Retry-After
    "unavailable",  # 503
    "slow",  # answers after Script.slow_seconds
    "content_filter",  # the provider's own refusal (status code or a 200 with a safety reason)
    "empty",  # 200 with no image at all
    "drift",  # success, but a known field moved (the image is clearly there)
    "octet_url",  # success with a URL output that serves application/octet-stream
    "blank",  # success with a uniform black image (how some providers hide a filter)
    "bad_auth",  # 401
)


@dataclass
class Script:
    """What a fake answers: queued behaviours first (one per request), then ``default``."""

    default: str = "ok"
    slow_seconds: float = 2.0
    retry_after: int = 1
    #: Size of the generated image when the request does not say.
    width: int = 64
    height: int = 64
    queue: collections.deque[str] = field(default_factory=collections.deque)
    #: Random failures when the queue is empty: behaviour → probability, e.g. {"rate_limit": 0.3}.
    chaos: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    #: Every request the fake received (method, path, parsed body), for assertions.
    requests: list[dict[str, Any]] = field(default_factory=list)
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeServer:
    """A Starlette app served on 127.0.0.1 from a thread; ``url`` is its base URL."""

    def __init__(self, app: Starlette) -> None:
        self.port = _free_port()
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
