"""``sentinel bench gateway``: what Sentinel adds to a direct call, on loopback, with a fake OpenAI provider.

Three processes, like a deployment: the fake provider, ``sentinel serve`` routed to it, and this
load generator (which sends ``Accept-Encoding: gzip, deflate`` as the OpenAI SDK does). Each
scenario is measured against the same provider called directly, in the same run.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml
from PIL import Image

from sentinel.fakes.server import free_port

#: The header the OpenAI SDK sends; a gateway that compresses images pays for it on every call.
SDK_HEADERS = {"Accept-Encoding": "gzip, deflate", "Authorization": "Bearer sk-bench"}


def noise_png(target_bytes: int) -> bytes:
    """A PNG of incompressible noise, close to ``target_bytes`` long."""
    side = int((target_bytes / 3) ** 0.5)
    pixels = np.random.default_rng(0).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def _process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(ready_url, process)
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextmanager
def stack(image: bytes) -> Iterator[tuple[str, str]]:
    """The fake provider and a Sentinel routed to it; yields (provider base, sentinel base)."""
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        folder = Path(tmp)
        (folder / "image.png").write_bytes(image)
        provider_port, sentinel_port = free_port(), free_port()
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
        }
        fake = [
            sys.executable,
            "-m",
            "sentinel.fakes",
            "openai",
            "--port",
            str(provider_port),
            "--image",
            str(folder / "image.png"),
        ]
        serve = [sys.executable, "-m", "sentinel.cli", "serve", "--port", str(sentinel_port)]
        sentinel = f"http://127.0.0.1:{sentinel_port}"
        with _process(fake, env, f"{provider}/files/none"), _process(serve, env, f"{sentinel}/healthz"):
            yield provider, sentinel


@dataclass
class Measurement:
    scenario: str
    concurrency: int
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    per_second: float

    def row(self) -> dict[str, Any]:
        return self.__dict__.copy()


async def _load(url: str, body: dict[str, Any], concurrency: int, requests: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=SDK_HEADERS) as client:
        for _ in range(min(3, requests)):  # warm connections and caches
            (await client.post(url, json=body)).raise_for_status()
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                response = await client.post(url, json=body)
                response.raise_for_status()
                await response.aread()
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, requests / elapsed


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def measure(scenario: str, url: str, body: dict[str, Any], concurrency: int, requests: int) -> Measurement:
    latencies, rate = asyncio.run(_load(url, body, concurrency, requests))
    return Measurement(
        scenario,
        concurrency,
        requests,
        statistics.median(latencies),
        _percentile(latencies, 95),
        _percentile(latencies, 99),
        rate,
    )


def run(sizes_kb: list[float], concurrencies: list[int], requests: int) -> list[dict[str, Any]]:
    """Each size × concurrency: direct, then via Sentinel (b64_json, url); ``requests`` each, at least 2 per client."""
    rows: list[dict[str, Any]] = []
    for size in sizes_kb:
        image = noise_png(int(size * 1024))
        with stack(image) as (provider, sentinel):
            for concurrency in concurrencies:
                count = max(requests, concurrency * 2)
                direct = measure(
                    "direct",
                    f"{provider}/v1/images/generations",
                    {"model": "dall-e-3", "prompt": "bench", "response_format": "b64_json"},
                    concurrency,
                    count,
                )
                rows.append({"image_kb": size, "image_bytes": len(image)} | direct.row())
                for response_format in ("b64_json", "url"):
                    via = measure(
                        f"sentinel {response_format}",
                        f"{sentinel}/v1/images/generations",
                        {"prompt": "bench", "response_format": response_format},
                        concurrency,
                        count,
                    )
                    rows.append(
                        {"image_kb": size, "image_bytes": len(image)}
                        | via.row()
                        | {
                            "added_p50_ms": via.p50_ms - direct.p50_ms,
                            "added_p95_ms": via.p95_ms - direct.p95_ms,
                            "added_p99_ms": via.p99_ms - direct.p99_ms,
                            "throughput_ratio": via.per_second / direct.per_second if direct.per_second else 0.0,
                        }
                    )
    return rows
