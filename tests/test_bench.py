"""`sentinel bench gateway|judges|pipeline` run with tiny parameters and write JSON of the documented shape.

Timings are not checked here (they depend on the machine); only that every number is there and sane.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import png_image, serve
from tests.conftest import REDIS_URL, REPO, clean_env

SENTINEL = str(REPO / ".venv" / "bin" / "sentinel")


def bench(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [SENTINEL, "bench", *args, "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()  # the table
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and rows
    return rows


def non_negative(row: dict[str, Any], keys: list[str]) -> None:
    for key in keys:
        assert isinstance(row[key], int | float) and row[key] >= 0, (key, row)


def test_bench_gateway_json_with_a_peer_measured_side_by_side(tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    # The fake provider speaks the OpenAI Images API itself, so it can stand in for a peer gateway routed to it.
    peer = f"fake-peer=http://127.0.0.1:{port}/v1"
    rows = bench(
        tmp_path, "gateway", "--size-kb", "64", "--concurrency", "1", "--requests", "3",
        "--peer", peer, "--provider-port", str(port),
    )  # fmt: skip
    assert [r["scenario"] for r in rows] == ["direct", "sentinel b64_json", "sentinel url", "fake-peer b64_json"]
    for row in rows:
        assert row["image_kb"] == 64 and row["concurrency"] == 1 and row["requests"] == 3
        non_negative(row, ["image_bytes", "p50_ms", "p95_ms", "p99_ms", "per_second"])
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    for row in rows[1:]:
        assert all(isinstance(row[k], float) for k in ("added_p50_ms", "added_p95_ms", "added_p99_ms"))
        non_negative(row, ["throughput_ratio"])
    for row in rows[1:3]:  # Sentinel's own CPU per request and peak memory are measured; a peer's are not known
        assert row["cpu_ms_per_request"] > 0 and row["rss_peak_mb"] > 30
    assert rows[3]["cpu_ms_per_request"] is None


def test_bench_gateway_peer_needs_the_provider_port(tmp_path: Path) -> None:
    result = subprocess.run(
        [SENTINEL, "bench", "gateway", "--peer", "litellm=http://127.0.0.1:4000/v1"],
        capture_output=True, text=True, env=clean_env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--provider-port" in result.stderr


def routed_only_with_header(image: bytes) -> Starlette:
    """A stand-in peer gateway that answers like OpenAI only when told where to route (as Portkey needs
    ``x-portkey-provider``), and otherwise refuses as a gateway would."""

    async def generations(request: Request) -> Response:
        if request.headers.get("x-route-to") != "fake":
            return JSONResponse({"error": {"message": "no route: x-route-to is missing"}}, status_code=400)
        return JSONResponse({"created": 0, "data": [{"b64_json": base64.b64encode(image).decode()}]})

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def test_bench_gateway_sends_peer_headers_and_reports_a_peer_process(tmp_path: Path) -> None:
    from tests.conftest import free_port

    with serve(routed_only_with_header(png_image(64, 64))) as peer:
        common = [
            "gateway", "--size-kb", "64", "--concurrency", "1", "--requests", "3",
            "--peer", f"routed={peer.url}/v1", "--provider-port", str(free_port()),
        ]  # fmt: skip
        # The peer serves from this test's own process, so its CPU and memory are this process's.
        told = ["--peer-header", "routed:x-route-to=fake", "--peer-pid", f"routed={os.getpid()}"]
        rows = bench(tmp_path, *common, *told)
        refused = subprocess.run(
            [SENTINEL, "bench", *common], capture_output=True, text=True, env=clean_env(), timeout=120
        )
    assert rows[3]["scenario"] == "routed b64_json"
    # Measured (a peer without --peer-pid reports None); a few tiny answers may use less than a clock tick.
    assert rows[3]["cpu_ms_per_request"] >= 0 and rows[3]["rss_peak_mb"] > 30
    assert refused.returncode == 1
    assert "answered 400" in refused.stderr and "x-route-to is missing" in refused.stderr


def test_bench_gateway_peer_options_name_a_known_peer(tmp_path: Path) -> None:
    for option in (["--peer-header", "other:x=1"], ["--peer-header", "p:no-equals"], ["--peer-pid", "p=notapid"]):
        result = subprocess.run(
            [SENTINEL, "bench", "gateway", "--peer", "p=http://127.0.0.1:1/v1", "--provider-port", "9", *option],
            capture_output=True, text=True, env=clean_env(), timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, option
        assert option[0] in result.stderr


def test_bench_judges_json(tmp_path: Path) -> None:
    rows = bench(tmp_path, "judges", "--side", "128", "--runs", "1")
    assert {r["task"] for r in rows} == {
        "text-to-image",
        "product-white-background",
        "text-render",
        "object-removal",
        "background-replace",
    }
    for row in rows:
        assert row["side"] == 128 and row["runs"] == 1
        assert row["verdict"] in ("green", "amber", "red")
        non_negative(row, ["median_ms", "png_decode_ms", "judges_share", "inputs_decode_ms"])
        assert row["judges_ms"] and all(v >= 0 for v in row["judges_ms"].values())
        # OCR is reported apart: it is the text judge's time, and the multiple without it is smaller.
        assert row["ocr_ms"] == row["judges_ms"].get("text", 0.0)
        assert row["decode_multiple_without_ocr"] <= row["decode_multiple"]
        # Every input's decode includes the image's own (an edit adds its source and mask).
        assert row["inputs_decode_ms"] >= row["png_decode_ms"]


PIPELINE_KEYS = ["total_ms", "server_ms", "judges_sum_ms", "judges_max_ms", "overhead_ms", "server_overhead_ms"]


def test_bench_pipeline_json_embedded_and_redis_postgres(tmp_path: Path, postgres_url: str) -> None:
    # the Redis layout uses a namespace of its own (sentinel-bench-…), deleted when the run ends
    args = ["pipeline", "--runs", "2", "--side", "256", "--redis-url", REDIS_URL, "--database-url", postgres_url]
    rows = bench(tmp_path, *args)
    assert [r["mode"].split()[0] for r in rows] == ["embedded", "Redis"]
    for row in rows:
        assert row["runs"] == 2 and row["side"] == 256
        non_negative(row, [f"{stat}_{key}" for key in PIPELINE_KEYS for stat in ("median", "p95")])
        assert row["median_judges_max_ms"] <= row["median_judges_sum_ms"]


def test_bench_load_json_with_stage_costs_and_an_audit(tmp_path: Path, postgres_url: str) -> None:
    args = ["load", "--clients", "2", "--seconds", "5", "--side", "128", "--redis-url", REDIS_URL]
    out = tmp_path / "load.json"
    result = subprocess.run(
        [SENTINEL, "bench", *args, "--database-url", postgres_url, "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, env=clean_env(), timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "where the CPU went" in result.stdout
    row = json.loads(out.read_text())
    assert row["mode"].startswith("Redis + PostgreSQL")
    assert row["finished"] == row["submitted"] > 0 and row["evaluations_per_second"] > 0
    assert row["lost"] == row["vote_mismatch"] == row["errors"] == 0
    stages = row["cpu_ms_per_evaluation"]
    assert set(stages) == {
        "api", "judges", "workers' queue and database work", "redis", "postgres", "load_generator"
    }  # fmt: skip
    assert stages["judges"] > 0 and all(ms >= 0 for ms in stages.values())
    # Shares are of Sentinel's own work: the load generator is reported, not counted.
    assert "load_generator" not in row["share"]
    assert abs(sum(row["share"].values()) - 1) < 0.01
    # What each stage spends idle (polls, relays, the sweep), and what that rate comes to per evaluation at this load.
    for figures in (row["idle_cpu_ms_per_second"], row["idle_cpu_ms_per_evaluation"]):
        assert set(figures) == {"api", "workers", "redis", "postgres"} and all(ms >= 0 for ms in figures.values())


def test_bench_load_on_rabbitmq_with_one_worker_process_reports_per_core(tmp_path: Path, postgres_url: str) -> None:
    from tests.support.rabbitmq import RABBITMQ_URL, rabbitmq_vhost

    out = tmp_path / "load.json"
    with rabbitmq_vhost() as vhost:
        args = ["load", "--clients", "2", "--seconds", "5", "--side", "128", "--processes", "1"]
        args += ["--broker-url", f"{RABBITMQ_URL}/{vhost}", "--redis-url", REDIS_URL, "--database-url", postgres_url]
        result = subprocess.run(
            [SENTINEL, "bench", *args, "--json", str(out)],
            cwd=tmp_path, capture_output=True, text=True, env=clean_env(), timeout=180,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "per second per core" in result.stdout
    row = json.loads(out.read_text())
    assert row["mode"] == "RabbitMQ + PostgreSQL, 1 API process, 1 worker process"
    assert row["broker"] == "RabbitMQ" and row["worker_processes"] == 1
    assert row["finished"] == row["submitted"] > 0 and row["lost"] == row["vote_mismatch"] == row["errors"] == 0
    assert "rabbitmq" in row["cpu_ms_per_evaluation"]
    non_negative(row, ["cores_used", "cores_used_with_servers", "evaluations_per_second_per_core_with_servers"])
    assert row["cores_used"] <= row["cores_used_with_servers"]
    # Per core: what one fully busy core delivers, so at least the rate when less than one core was used.
    assert row["evaluations_per_second_per_core"] > 0
    assert row["evaluations_per_second_per_worker_process"] == row["evaluations_per_second"]


def test_bench_vision_small_burst_every_evaluation_gets_every_judges_vote(tmp_path: Path, postgres_url: str) -> None:
    out = tmp_path / "vision.json"
    args = ["vision", "--evaluations", "10", "--judges", "3", "--latency", "0.2", "--side", "256"]
    result = subprocess.run(
        [SENTINEL, "bench", *args, "--redis-url", REDIS_URL, "--database-url", postgres_url, "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, env=clean_env(), timeout=110,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "last verdict s" in result.stdout
    row = json.loads(out.read_text())
    assert row["mode"] == "Redis + PostgreSQL, 1 worker process"
    assert row["evaluations"] == row["submitted"] == row["done"] == 10 and row["judges"] == 3
    # The audit: every evaluation has its three votes, none abstained, each judge asked the model once.
    assert row["vote_mismatch"] == row["abstained_votes"] == row["errors"] == 0
    assert row["endpoint_calls"] == 30
    assert 1 <= row["endpoint_peak_concurrent_calls"] <= 30
    keys = ["seconds_to_last_verdict", "p50_seconds_to_verdict", "p99_seconds_to_verdict", "seconds_to_last_accept"]
    non_negative(row, [*keys, "worker_peak_rss_mb", "worker_cpu_seconds", "endpoint_cpu_seconds"])
    assert row["p50_seconds_to_verdict"] <= row["p99_seconds_to_verdict"] <= row["seconds_to_last_verdict"]
    assert row["p50_seconds_per_call"] >= 0.2  # no vote came back before the model answered
    # The model's side of each call: its latency at least, and no more than the judges saw.
    assert 0.2 <= row["p50_seconds_per_call_at_model"] <= row["p95_seconds_per_call_at_model"]
    # The judges' side is rounded to 10 ms, the model's to 1 ms: now that calls start after their image's scan, the
    # two are equal but for that rounding.
    assert row["p50_seconds_per_call_at_model"] <= row["p50_seconds_per_call"] + 0.005
    assert row["p50_seconds_per_call"] <= row["p95_seconds_per_call"]
    # The client's CPU is told apart from the API's and the worker's.
    non_negative(row, ["client_cpu_seconds", "api_cpu_seconds", "p50_seconds_created_to_verdict_outside_calls"])
    assert isinstance(row["target_met"], bool)
    # Where the time went, stage by stage, matched to each evaluation's calls at the model (its latency at least).
    assert "where the time went" in result.stdout
    assert list(row["stages_seconds"]) == ["accept", "to_first_call", "calls", "to_verdict", "to_client"]
    assert row["stages_seconds"]["calls"]["p50"] >= 0.2


def test_bench_regenerate_converges_and_leaves_good_first_attempts_alone(tmp_path: Path) -> None:
    out = tmp_path / "regenerate.json"
    result = subprocess.run(
        [SENTINEL, "bench", "regenerate", "--jobs", "1", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, env=clean_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "fixable jobs green within 3 attempts" in result.stdout
    report = json.loads(out.read_text())
    rows = {row["scenario"]: row for row in report["scenarios"]}
    # Each fixable first attempt was caught (judged red, or refused as blank) and the fix made the next one green.
    missing = rows["text missing from the prompt"]
    assert missing["first_attempt_verdicts"]["red"] == 1 and missing["green"] == 1
    assert 'The sign must read exactly "OPEN 24/7"' in missing["example_regeneration_prompt"]
    backdrop = rows["product on a coloured backdrop"]
    assert backdrop["first_attempt_verdicts"]["red"] == 1 and backdrop["green"] == 1
    assert "pure white (#FFFFFF) background" in backdrop["example_regeneration_prompt"]
    assert rows["blank first output"]["green"] == 1
    for task in report["tasks"]:
        assert task["green_within_max_attempts"] == 1.0 and task["good_first_attempts_red"] == 0, task


def test_bench_signs_judges_the_local_renderers_legible_signs(tmp_path: Path) -> None:
    out = tmp_path / "signs.json"
    result = subprocess.run(
        [SENTINEL, "bench", "signs", "--phrase", "BUY 2 GET 1", "--phrase", "Café au lait", "--seeds", "1",
         "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, env=clean_env(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "legible signs green" in result.stdout
    report = json.loads(out.read_text())
    assert report["judged"] == 2 and report["green"] == 2 and report["contradictions"] == 0, report
