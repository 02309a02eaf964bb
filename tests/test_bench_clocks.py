"""Benchmarks say what they measure: `bench cli` counts the CPU time of the processes it waits for
(tests/cli/test_bench_progress.py checks that it and `bench judges` print CPU time beside wall time); `bench
gateway` compares each gateway with the direct call measured alike (same answer format, the same concurrency held
for every timed request, connections already open), so the latency it says a gateway adds is not a matter of
queueing order or of the answer's size. Nothing here depends on the machine's speed: the checks are on what was
counted and how, never on how long it took."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import SENTINEL, clean_env

#: A child that burns CPU itself and in a grandchild it waits for, and prints the CPU seconds both used.
BURNER = """
import subprocess, sys, time
burn = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass\\nprint(time.process_time())"
grandchild = float(subprocess.run([sys.executable, "-c", burn], capture_output=True, text=True).stdout)
started = time.process_time()
while time.process_time() - started < 0.2:
    pass
print(grandchild + time.process_time())
"""


def test_bench_cli_cpu_time_counts_the_command_and_the_processes_it_waits_for() -> None:
    from sentinel.bench import cli_start

    run = subprocess.run([sys.executable, "-c", BURNER], capture_output=True, text=True, check=True)
    reported = float(run.stdout)  # what the child and grandchild say they used, start-up aside
    wall_ms, cpu_ms = cli_start.timed([sys.executable, "-c", BURNER])
    assert cpu_ms >= reported * 1000 * 0.9, (cpu_ms, reported)
    assert wall_ms > 0


def answering_server() -> Starlette:
    async def generations(request: Request) -> Response:
        return JSONResponse({"created": 0, "data": [{"b64_json": "AAAA"}]})

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def test_every_timed_request_runs_at_the_full_concurrency_over_an_open_connection() -> None:
    import asyncio

    from sentinel.bench.gateway import _load

    with serve(answering_server()) as server:
        load = asyncio.run(_load(f"{server.url}/v1/images/generations", {"prompt": "x"}, 8, 20, {}))
    assert len(load.latencies) == 20
    # One connection a client, opened by its untimed first request: none is opened while timed requests run.
    assert load.connections == 8
    # Every timed request was sent while the other seven clients had one in flight (no opening burst, no drain).
    assert load.least_in_flight == 8
    assert load.sent >= 20 + 8


def test_a_gateway_is_compared_with_the_direct_call_in_its_own_answer_format() -> None:
    from sentinel.bench.gateway import Measurement, added

    direct_url = Measurement("direct url", 64, 128, 40.0, 60.0, 70.0, 100.0)
    via_url = Measurement("sentinel url", 64, 128, 55.0, 80.0, 95.0, 80.0)
    said = added(via_url, direct_url)
    assert said["baseline"] == "direct url"
    assert (said["added_p50_ms"], said["added_p95_ms"], said["added_p99_ms"]) == (15.0, 20.0, 25.0)
    assert said["throughput_ratio"] == 0.8


def test_bench_gateway_rows_name_the_direct_call_each_is_measured_against(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    result = subprocess.run(
        [SENTINEL, "bench", "gateway", "--size-kb", "64", "--concurrency", "2", "--requests", "4", "--json", str(out)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["scenario"]: row for row in json.loads(out.read_text())}
    assert rows["sentinel b64_json"]["baseline"] == "direct b64_json"
    assert rows["sentinel b64_json"]["baseline_p50_ms"] == rows["direct"]["p50_ms"]
    # A gateway answering a URL is compared with the provider answering a URL, not 64 KiB of base64.
    assert rows["sentinel url"]["baseline"] == "direct url"
    for name in ("sentinel b64_json", "sentinel url"):
        row = rows[name]
        assert row["added_p50_ms"] == row["p50_ms"] - row["baseline_p50_ms"]
    assert "added over" in result.stdout and "direct url" in result.stdout
