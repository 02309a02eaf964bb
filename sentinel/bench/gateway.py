"""``sentinel bench gateway``: what Sentinel adds to a direct call, on loopback, with a fake OpenAI provider.

Three processes, like a deployment: the fake provider, ``sentinel serve`` routed to it, and this
load generator (which sends ``Accept-Encoding: gzip, deflate`` as the OpenAI SDK does). Each
scenario is measured against the same provider called directly, in the same run.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import yaml
from PIL import Image

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import UNLIMITED_ADDRESSES, cpu_seconds, free_port, peak_rss_mb, started_process
from sentinel.keyfiles import private_folder

#: The header the OpenAI SDK sends; a gateway that compresses images pays for it on every call.
SDK_HEADERS = {"Accept-Encoding": "gzip, deflate", "Authorization": "Bearer sk-bench"}


def noise_png(target_bytes: int) -> bytes:
    """A PNG of incompressible noise, close to ``target_bytes`` long."""
    side = int((target_bytes / 3) ** 0.5)
    pixels = np.random.default_rng(0).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


#: How long ``sentinel serve`` may take to answer /healthz: its imports (OCR, ONNX, OpenCV) took over 30 s on the
#: 2-core machine while other work ran, and the 4 MiB cells, measured last, then never started.
SERVE_READY_SECONDS = 180.0


#: Requests (per answer format) a freshly started Sentinel serves, untimed, before its scenarios are measured.
SERVER_WARMUP_REQUESTS = 30


#: Where each run's Sentinel keeps its database and images: a new folder in ``.sentinel/bench`` (Sentinel's default
#: data folder is ``.sentinel`` in the working directory), removed when the whole run ends. Every image is a new file
#: (and, in a young store, a new folder), and on a filesystem without a journal (ext4 as the project's VM mounts it)
#: each new inode is found by stepping past every inode its block group freed in the last ~30 s. In /tmp, where every
#: test's files come and go, a folder and a file cost 0.4-1.7 ms of kernel CPU per image against ~0.04 ms in a quiet
#: group: the bench measured the machine's other work, and its own removal of the store before (the 1 MiB cells ran
#: just after the 64 KiB store of thousands of images was removed), not Sentinel.
STORE_PARENT = Path(".sentinel") / "bench"
#: ext4's "top of a directory hierarchy" flag (``chattr +T``): a folder made in one is placed in a block group of its
#: own, as a folder made at the filesystem's top is, instead of its parent's.
FS_TOPDIR_FL = 0x00020000
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602


class BenchFailed(RuntimeError):
    """A gateway under measurement did not answer 200: the run stops and says which and why."""


@dataclass
class Peer:
    """Another gateway measured side by side: its /v1 base URL, headers it needs to reach the fake provider, and
    its process (when known) for its CPU and memory."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    pid: int | None = None


@dataclass
class Stack:
    provider: str
    sentinel: str
    #: The `sentinel serve` process, for its CPU time and memory.
    pid: int
    #: The fake provider's process: a measurement starts once it and Sentinel are at rest.
    provider_pid: int | None = None


@contextmanager
def store_folder() -> Iterator[Path]:
    """A new folder under :data:`STORE_PARENT` for one run's stacks, removed with everything in it at the end."""
    private_folder(STORE_PARENT)
    _spread_folders(STORE_PARENT)
    with tempfile.TemporaryDirectory(prefix="bench-gateway-", dir=STORE_PARENT.resolve()) as tmp:
        yield Path(tmp)


def _spread_folders(folder: Path) -> None:
    """Have ext4 place each run's folder in ``folder`` away from the inodes the run before freed (FS_TOPDIR_FL). Best
    effort: another filesystem has no such flag, and the bench runs all the same."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(descriptor, FS_IOC_GETFLAGS, flags, True)
        if not flags[0] & FS_TOPDIR_FL:
            flags[0] |= FS_TOPDIR_FL
            fcntl.ioctl(descriptor, FS_IOC_SETFLAGS, flags, True)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def stack(
    image: bytes, provider_port: int | None = None, same_image: bool = False, folder: Path | None = None
) -> Iterator[Stack]:
    """The fake provider (on ``provider_port`` if given, so a peer gateway can be pointed at it beforehand) and a
    Sentinel routed to it. The provider answers each request with a new variant of ``image`` (a counter in a PNG text
    chunk), as a real provider's images are new: a gateway storing images by hash then pays for writing each one.
    ``same_image`` answers ``image`` itself every time (each is then stored once, and never written again).
    ``folder``: an empty folder for Sentinel's data, left in place (else a :func:`store_folder` of its own)."""
    if folder is None:
        with store_folder() as own, stack(image, provider_port, same_image, own) as running:
            yield running
        return
    (folder / "image.png").write_bytes(image)
    provider_port, sentinel_port = provider_port or free_port(), free_port()
    provider = f"http://127.0.0.1:{provider_port}"
    routes = {
        "providers": {"fake": {"kind": "openai", "base_url": f"{provider}/v1", "api_key_env": "BENCH_KEY"}},
        "models": {"bench": {"candidates": [{"target": "fake:dall-e-3"}]}},
        "default_model": "bench",
    }
    (folder / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env |= {
        "SENTINEL_DATA_DIR": str(folder / "data"),
        "SENTINEL_ROUTES": str(folder / "routes.yaml"),
        "BENCH_KEY": "sk-bench",
    } | UNLIMITED_ADDRESSES
    fake = [
        sys.executable,
        "-m",
        "sentinel_fakes",
        "openai",
        "--port",
        str(provider_port),
        "--image",
        str(folder / "image.png"),
        *([] if same_image else ["--distinct"]),
    ]
    serve = [sys.executable, "-m", "sentinel.cli", "serve", "--port", str(sentinel_port)]
    sentinel = f"http://127.0.0.1:{sentinel_port}"
    with (
        started_process(fake, env, f"{provider}/files/none") as fake_process,
        started_process(serve, env, f"{sentinel}/healthz", ready_timeout=SERVE_READY_SECONDS) as process,
    ):
        yield Stack(provider, sentinel, process.pid, fake_process.pid)


@dataclass
class Measurement:
    scenario: str
    concurrency: int
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    per_second: float
    #: The gateway's own CPU per request (Sentinel's, or a peer's whose process is known) and its peak memory so far.
    cpu_ms_per_request: float | None = None
    rss_peak_mb: float | None = None

    def row(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Load:
    """What one scenario's load generator saw."""

    #: Latency of each timed request, ms.
    latencies: list[float]
    #: Timed requests per second, over the time they were being sent.
    per_second: float
    #: Every request sent, timed or not (the first of each client, and the ones that hold the load while the last
    #: timed ones finish): the gateway's CPU is spread over all of them.
    sent: int
    #: Connections the clients opened (one each: every timed request goes over a connection already open).
    connections: int
    #: The fewest requests in flight when a timed one was sent (the concurrency asked for, when it was held).
    least_in_flight: int


async def _load(url: str, body: dict[str, Any], concurrency: int, requests: int, headers: dict[str, str]) -> Load:
    """``requests`` timed POSTs from ``concurrency`` clients, each sent while all the clients have one in flight.

    A direct call and a gateway are compared at the same concurrency only if both are measured alike: each client's
    first request (which opens its connection, and which all clients send at the same instant) is not timed, and
    clients keep sending untimed requests until the last timed one is answered, so no timed request starts into an
    opening burst or runs alone while the others drain. Timed only so, the median is the latency at that load; a
    burst of 64 at once answered in turn by a gateway and all together by the direct server (or the other way
    round) made the median a matter of queueing order, and the gateway came out faster than the direct call.

    The load generator is aiohttp, not httpx: it shares the machine's 2 cores with what it measures, and httpx
    spends ~3 ms of CPU reading a 1 MiB answer against aiohttp's ~0.7 ms."""
    latencies: list[float] = []
    tickets = iter(range(requests))
    counts = {"sent": 0, "in_flight": 0, "timed_in_flight": 0, "connections": 0}
    least = concurrency
    first_timed: float | None = None
    last_answer = 0.0

    async def opened(*_: object) -> None:
        counts["connections"] += 1

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_end.append(opened)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=SDK_HEADERS | headers, trace_configs=[tracing]
    ) as client:

        async def post() -> None:
            counts["sent"] += 1
            counts["in_flight"] += 1
            try:
                async with client.post(url, json=body) as response:
                    answer = await response.read()
                    if response.status != 200:
                        raise BenchFailed(f"{url} answered {response.status}: {answer[:300].decode(errors='replace')}")
            finally:
                counts["in_flight"] -= 1

        async def client_loop() -> None:
            nonlocal least, first_timed, last_answer
            await post()  # opens this client's connection
            while True:
                ticket = next(tickets, None)
                if ticket is None:
                    if counts["timed_in_flight"] == 0:
                        return
                    await post()  # holds the load while the last timed requests finish
                    continue
                # No await between the last answer and this send: every other client has a request in flight.
                least = min(least, counts["in_flight"] + 1)
                started = time.perf_counter()
                first_timed = started if first_timed is None else first_timed
                counts["timed_in_flight"] += 1
                try:
                    await post()
                finally:
                    counts["timed_in_flight"] -= 1
                last_answer = time.perf_counter()
                latencies.append((last_answer - started) * 1000)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = last_answer - (first_timed or last_answer)
    return Load(latencies, len(latencies) / elapsed if elapsed else 0.0, counts["sent"], counts["connections"], least)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


#: The CPU a process may use in SETTLE_STEP_SECONDS and still count as at rest, and how long the wait may last.
SETTLE_CPU_SECONDS = 0.005
SETTLE_STEP_SECONDS = 0.1
SETTLE_MOST_SECONDS = 10.0


def settle(pids: list[int]) -> None:
    """Wait until the servers measured are at rest before a measurement: the dirty pages of the images a gateway
    just stored written out (``sync``; the kernel's writeback otherwise ran during the next scenario, often the
    direct call), and each process's CPU idle for a step (its after-work: a write-ahead, a store's cleanup, a
    collection), within SETTLE_MOST_SECONDS."""
    os.sync()
    deadline = time.monotonic() + SETTLE_MOST_SECONDS
    before = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() < deadline:
        time.sleep(SETTLE_STEP_SECONDS)
        after = [cpu_seconds(pid) for pid in pids]
        if all(b is None or a is None or a - b <= SETTLE_CPU_SECONDS for a, b in zip(after, before, strict=True)):
            return
        before = after


def measure(
    scenario: str,
    url: str,
    body: dict[str, Any],
    concurrency: int,
    requests: int,
    pid: int | None = None,
    headers: dict[str, str] | None = None,
    at_rest: list[int] | None = None,
) -> Measurement:
    """One scenario, once the processes ``at_rest`` are (see :func:`settle`)."""
    if at_rest:
        settle(at_rest)
    before = cpu_seconds(pid) if pid else None
    load = asyncio.run(_load(url, body, concurrency, requests, headers or {}))
    after = cpu_seconds(pid) if pid else None
    cpu = (after - before) * 1000 / load.sent if before is not None and after is not None else None
    return Measurement(
        scenario,
        concurrency,
        requests,
        statistics.median(load.latencies),
        _percentile(load.latencies, 95),
        _percentile(load.latencies, 99),
        load.per_second,
        cpu,
        peak_rss_mb(pid) if pid else None,
    )


def added(via: Measurement, direct: Measurement) -> dict[str, Any]:
    """What a gateway adds over the direct call it is compared with, which is named in the row: the same answer
    format (a gateway answering a URL was compared with the direct call answering 5.5 MB of base64, and at 4 MiB and
    64 clients came out faster than the direct call), at the same concurrency, measured just before it."""
    return {
        "baseline": direct.scenario,
        "baseline_p50_ms": direct.p50_ms,
        "baseline_p95_ms": direct.p95_ms,
        "baseline_p99_ms": direct.p99_ms,
        "baseline_per_second": direct.per_second,
        "added_p50_ms": via.p50_ms - direct.p50_ms,
        "added_p95_ms": via.p95_ms - direct.p95_ms,
        "added_p99_ms": via.p99_ms - direct.p99_ms,
        "throughput_ratio": via.per_second / direct.per_second if direct.per_second else 0.0,
    }


def run(
    sizes_kb: list[float],
    concurrencies: list[int],
    requests: int,
    peers: dict[str, Peer] | None = None,
    peer_model: str = "bench",
    provider_port: int | None = None,
    progress: Progress = quiet,
    same_image: bool = False,
) -> list[dict[str, Any]]:
    """Each size × concurrency: direct, then via Sentinel (b64_json, url), then via each peer gateway (b64_json);
    ``requests`` each, at least 2 per client. Each peer is routed to the fake provider on ``provider_port``. Every
    answer is a new image unless ``same_image``."""
    rows: list[dict[str, Any]] = []
    with store_folder() as stores:
        for index, size in enumerate(sizes_kb):
            rows += _run_size(
                size,
                stores / f"size-{index}",
                concurrencies,
                requests,
                peers,
                peer_model,
                provider_port,
                progress,
                same_image,
            )
    return rows


def _run_size(
    size: float,
    folder: Path,
    concurrencies: list[int],
    requests: int,
    peers: dict[str, Peer] | None,
    peer_model: str,
    provider_port: int | None,
    progress: Progress,
    same_image: bool,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    folder.mkdir()
    image = noise_png(int(size * 1024))
    with stack(image, provider_port, same_image, folder) as running:
        provider, sentinel = running.provider, running.sentinel
        # A server that has just started pays for its first requests (first use of lazily built parts, new blob
        # folders, a database file that grows): untimed, so that neither answer format, measured first,
        # carries it.
        for fmt in ("b64_json", "url"):
            asyncio.run(
                _load(
                    f"{sentinel}/v1/images/generations",
                    {"prompt": "bench", "response_format": fmt},
                    1,
                    SERVER_WARMUP_REQUESTS,
                    {},
                )
            )
        at_rest = [running.pid, *([running.provider_pid] if running.provider_pid else [])]
        facts = {"image_kb": size, "image_bytes": len(image), "same_image": same_image}

        def direct(fmt: str, concurrency: int, count: int) -> Measurement:
            body = {"model": "dall-e-3", "prompt": "bench", "response_format": fmt}
            url = f"{provider}/v1/images/generations"
            return measure(f"direct {fmt}", url, body, concurrency, count, at_rest=at_rest)

        for concurrency in concurrencies:
            count = max(requests, concurrency * 2)
            first = direct("b64_json", concurrency, count)
            rows.append(facts | first.row() | {"scenario": "direct"})
            progress(f"{size:g} KiB, {concurrency} clients, direct: p50 {first.p50_ms:.1f} ms")
            gateways = [
                (f"sentinel {fmt}", fmt, Peer(f"{sentinel}/v1", pid=running.pid), {"response_format": fmt})
                for fmt in ("b64_json", "url")
            ] + [
                (f"{name} b64_json", "b64_json", peer, {"model": peer_model, "response_format": "b64_json"})
                for name, peer in (peers or {}).items()
            ]
            for index, (scenario, fmt, via_peer, extra) in enumerate(gateways):
                # Each gateway against the direct call in its own answer format, measured just before it.
                baseline = first if index == 0 else direct(fmt, concurrency, count)
                via = measure(
                    scenario,
                    f"{via_peer.base_url.rstrip('/')}/images/generations",
                    {"prompt": "bench", **extra},
                    concurrency,
                    count,
                    via_peer.pid,
                    via_peer.headers,
                    at_rest=[*at_rest, *([via_peer.pid] if via_peer.pid and via_peer.pid not in at_rest else [])],
                )
                rows.append(facts | via.row() | added(via, baseline))
                progress(
                    f"{size:g} KiB, {concurrency} clients, {scenario}: p50 {via.p50_ms:.1f} ms "
                    f"({baseline.scenario} {baseline.p50_ms:.1f} ms)"
                )
    return rows
