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
        started_process(fake, env, f"{provider}/files/none"),
        started_process(serve, env, f"{sentinel}/healthz", ready_timeout=SERVE_READY_SECONDS) as process,
    ):
        yield Stack(provider, sentinel, process.pid)


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


async def _load(
    url: str, body: dict[str, Any], concurrency: int, requests: int, headers: dict[str, str]
) -> tuple[list[float], float]:
    """Latencies and the rate of ``requests`` POSTs from ``concurrency`` clients. The load generator is aiohttp, not
    httpx: it shares the machine's 2 cores with what it measures, and httpx spends ~3 ms of CPU reading a 1 MiB
    answer against aiohttp's ~0.7 ms."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=SDK_HEADERS | headers) as client:

        async def post() -> None:
            async with client.post(url, json=body) as response:
                answer = await response.read()
                if response.status != 200:
                    raise BenchFailed(f"{url} answered {response.status}: {answer[:300].decode(errors='replace')}")

        for _ in range(min(3, requests)):  # warm connections and caches
            await post()
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                await post()
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, requests / elapsed


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def measure(
    scenario: str,
    url: str,
    body: dict[str, Any],
    concurrency: int,
    requests: int,
    pid: int | None = None,
    headers: dict[str, str] | None = None,
) -> Measurement:
    before = cpu_seconds(pid) if pid else None
    latencies, rate = asyncio.run(_load(url, body, concurrency, requests, headers or {}))
    after = cpu_seconds(pid) if pid else None
    warmed = requests + min(3, requests)
    cpu = (after - before) * 1000 / warmed if before is not None and after is not None else None
    return Measurement(
        scenario,
        concurrency,
        requests,
        statistics.median(latencies),
        _percentile(latencies, 95),
        _percentile(latencies, 99),
        rate,
        cpu,
        peak_rss_mb(pid) if pid else None,
    )


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
        for concurrency in concurrencies:
            count = max(requests, concurrency * 2)
            direct = measure(
                "direct",
                f"{provider}/v1/images/generations",
                {"model": "dall-e-3", "prompt": "bench", "response_format": "b64_json"},
                concurrency,
                count,
            )
            facts = {"image_kb": size, "image_bytes": len(image), "same_image": same_image}
            rows.append(facts | direct.row())
            progress(f"{size:g} KiB, {concurrency} clients, direct: p50 {direct.p50_ms:.1f} ms")
            gateways = [
                (f"sentinel {fmt}", Peer(f"{sentinel}/v1", pid=running.pid), {"response_format": fmt})
                for fmt in ("b64_json", "url")
            ] + [
                (f"{name} b64_json", peer, {"model": peer_model, "response_format": "b64_json"})
                for name, peer in (peers or {}).items()
            ]
            for scenario, via_peer, extra in gateways:
                via = measure(
                    scenario,
                    f"{via_peer.base_url.rstrip('/')}/images/generations",
                    {"prompt": "bench", **extra},
                    concurrency,
                    count,
                    via_peer.pid,
                    via_peer.headers,
                )
                rows.append(
                    facts
                    | via.row()
                    | {
                        "added_p50_ms": via.p50_ms - direct.p50_ms,
                        "added_p95_ms": via.p95_ms - direct.p95_ms,
                        "added_p99_ms": via.p99_ms - direct.p99_ms,
                        "throughput_ratio": via.per_second / direct.per_second if direct.per_second else 0.0,
                    }
                )
                progress(f"{size:g} KiB, {concurrency} clients, {scenario}: p50 {via.p50_ms:.1f} ms")
    return rows
