"""``sentinel bench vision``: many evaluations at once, each judged only by vision judges whose model answers after a
fixed latency, on ONE worker process: how long until the last verdict, and the worker's memory meanwhile.

The target it checks (issue 22): 200 concurrent evaluations x 3 vision judges against an endpoint with 1 s latency
give every verdict within 3 s on one worker process, in under 500 MB. With a model taking 1 s, that is only possible
when waiting for the model holds no thread and the work around each call (decode, the scan for instructions to the
judges, encoding the image, recording the vote) is small and done once per image, not once per judge.

The fake model (``python -m sentinel_fakes.bench_vision``, on aiohttp, a fraction of a millisecond of CPU per call)
runs as a process of its own and reports how many calls it was answering at once and how long each took as it saw
it; the deployment is ``sentinel serve`` + one ``sentinel worker`` on Redis + PostgreSQL (or the embedded default),
with a judges folder and a rubric folder of the benchmark's own. Everything shares the machine's cores, so the CPU
of each part is reported apart: the worker, the API, the benchmark's own client, the fake model, and PostgreSQL and
Redis (every process of theirs on the machine).
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import statistics
import sys
import tempfile
import time
import zlib
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import orjson
from PIL import Image

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import (
    astronaut,
    cpu_seconds,
    deployment,
    free_port,
    peak_rss_mb,
    process_tree,
    started_process,
)
from sentinel.db.migrate import scratch_database
from sentinel.settings import Settings

#: The rubric the benchmark's evaluations use: vision criteria only, so only the vision judges vote.
TASK = "bench-vision"
RUBRIC = f"""\
id: {TASK}
title: Vision judges only
description: A generated picture judged by vision models alone (sentinel bench vision).
inputs: [image]
criteria:
  - id: subject-intact
    must: The subject is whole and undistorted.
    judge: vision
    ask: Is the subject whole and physically plausible, with no melted, warped or duplicated parts? Pass only if yes.
  - id: no-generation-artifacts
    must: There are no generation artifacts.
    judge: vision
    ask: Is the image free of garbled shapes, extra limbs, smeared textures or nonsense lettering? Pass only if yes.
"""
MODEL = "bench-vision"
#: The target's figures.
TARGET_SECONDS = 3.0
TARGET_RSS_MB = 500.0


def judge_yaml(name: str, base_url: str, timeout_seconds: float) -> str:
    """A vision judge on the fake model with the shipped defaults for everything a deployment would not set."""
    return f"""\
name: {name}
kind: vision-llm
description: A vision model behind the benchmark's fake endpoint.
timeout_seconds: {timeout_seconds:g}
options:
  api: openai
  base_url: {base_url}
  model: {MODEL}
"""


def photo_variants(count: int, side: int) -> list[bytes]:
    """``count`` different JPEG photos (the astronaut, each with a patch of its own), so every evaluation's image is
    new to the worker, as in production: nothing is served from a cache filled by another evaluation."""
    base = np.asarray(astronaut(side)).copy()
    patch = max(4, side // 32)
    images = []
    for seed in range(count):
        pixels = base.copy()
        row, column = divmod(seed, max(1, side // patch))
        top, left = (row * patch) % (side - patch), (column * patch) % (side - patch)
        pixels[top : top + patch, left : left + patch] = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


@dataclass
class Submitted:
    evaluation_id: str
    #: Which of the burst's images it sent.
    image: int
    #: Wall clock (epoch seconds) just before its POST was sent, to compare with the server's finished_at.
    sent_at: float
    #: ... and when its 202 came back.
    accepted_at: float
    answer: dict[str, Any] = field(default_factory=dict)
    #: Wall clock when the client read the finished evaluation.
    seen_at: float = 0.0


async def _submit_and_wait(
    client: aiohttp.ClientSession, base: str, index: int, image: bytes, errors: list[str]
) -> Submitted | None:
    form = aiohttp.FormData()
    form.add_field("task", TASK)
    form.add_field("image", image, filename="bench.jpg", content_type="image/jpeg")
    sent_at = time.time()
    async with client.post(f"{base}/v1/evaluations", data=form) as created:
        if created.status != 202:
            errors.append(f"{created.status}: {(await created.text())[:200]}")
            return None
        submitted = Submitted((await created.json(loads=orjson.loads))["id"], index, sent_at, time.time())
    while True:
        try:
            async with client.get(f"{base}/v1/evaluations/{submitted.evaluation_id}", params={"wait": "30"}) as answer:
                answer.raise_for_status()
                submitted.answer = await answer.json(loads=orjson.loads)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            continue  # a kept-alive connection the server closed as it was reused: reading is safe to repeat
        if submitted.answer["status"] == "done":
            submitted.seen_at = time.time()
            return submitted


async def _burst(base: str, images: list[bytes], errors: list[str]) -> tuple[float, list[Submitted]]:
    """Every image submitted at once, each caller then waiting for its verdict; (wall clock of the first send,
    the evaluations). The client is aiohttp's: on the benchmark's shared cores, httpx's pure-Python client took
    7-12 ms of CPU per upload, more than the API spent accepting it, and delayed the burst it was measuring."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        started = time.time()
        done = await asyncio.gather(
            *(_submit_and_wait(client, base, index, image, errors) for index, image in enumerate(images))
        )
    return started, [s for s in done if s is not None]


def _warm_up(base: str, image: bytes) -> None:
    """One evaluation first: the worker imports its modules, opens its pools and loads the OCR on it, not on the
    measured burst."""
    errors: list[str] = []
    asyncio.run(_burst(base, [image], errors))
    if errors:
        raise RuntimeError(f"the warm-up evaluation was refused: {errors[0]}")


def audit(evaluations: list[Submitted], judges: int) -> dict[str, int]:
    """Every evaluation done with one vote per judge; how many votes abstained (a call that failed or timed out)."""
    counts = {"done": 0, "vote_mismatch": 0, "abstained_votes": 0}
    for submitted in evaluations:
        answer = submitted.answer
        if answer.get("status") != "done":
            continue
        counts["done"] += 1
        voted = [j["judge"] for j in answer["judges"]]
        if len(voted) != judges or sorted(voted) != sorted(answer["judges_expected"]) or answer["votes_in"] != judges:
            counts["vote_mismatch"] += 1
        counts["abstained_votes"] += sum(1 for j in answer["judges"] if j["passed"] is None)
    return counts


def sent_image_key(image: bytes) -> int:
    """How the fake model names an image it was sent (``sentinel_fakes.bench_vision.image_key``): the CRC-32 of its
    base64 text. The benchmark's photos are sent as they are (JPEG, under every judge's image_max_side)."""
    return zlib.crc32(base64.b64encode(image))


#: The stages of an evaluation, in order, each from the end of the one before: the upload and the API's accept; the
#: worker picking up the judges' message, reading the evaluation and preparing and sending the first call; the calls
#: (first arrival at the model to its last answer, the model's own latency included); the answers read, the votes
#: recorded and the verdict written; the client's long poll noticing it.
STAGES = ("accept", "to_first_call", "calls", "to_verdict", "to_client")


def stage_seconds(submitted: Submitted, calls: list[tuple[float, float]]) -> dict[str, float] | None:
    """Where one evaluation's time went (STAGES), from the client's clocks, the server's timestamps and its calls as
    the model saw them (arrival, answer); None when the model saw none of its calls."""
    if not calls:
        return None
    created = datetime.fromisoformat(submitted.answer["created_at"]).timestamp()
    finished = datetime.fromisoformat(submitted.answer["finished_at"]).timestamp()
    first_arrival = min(arrived for arrived, _ in calls)
    last_answer = max(answered for _, answered in calls)
    return {
        "accept": created - submitted.sent_at,
        "to_first_call": first_arrival - created,
        "calls": last_answer - first_arrival,
        "to_verdict": finished - last_answer,
        "to_client": submitted.seen_at - finished,
    }


def breakdown(
    done: list[Submitted], images: list[bytes], calls: list[tuple[float, float, int | None]], tail: float = 0.05
) -> dict[str, dict[str, float]]:
    """Per stage (STAGES) in seconds: the median over every evaluation, and the mean over the last ``tail`` share of
    them to reach the client (the evaluations that make "last verdict"). ``images``: the burst's, as submitted."""
    keys = [sent_image_key(image) for image in images]
    by_image: dict[int, list[tuple[float, float]]] = {}
    for arrived, answered, key in calls:
        if key is not None:
            by_image.setdefault(key, []).append((arrived, answered))
    measured = [
        (s.seen_at, stages) for s in done if (stages := stage_seconds(s, by_image.get(keys[s.image], []))) is not None
    ]
    if not measured:
        return {}
    last = [stages for _, stages in sorted(measured, key=lambda m: m[0])[-max(1, round(len(measured) * tail)) :]]
    return {
        stage: {
            "p50": round(statistics.median(stages[stage] for _, stages in measured), 3),
            "tail_mean": round(statistics.fmean(stages[stage] for stages in last), 3),
        }
        for stage in STAGES
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run(
    evaluations: int,
    judges: int,
    latency: float,
    side: int,
    redis_url: str | None,
    database_url: str | None,
    in_flight: int | None = None,
    scan: bool = True,
    log_dir: Path | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """The burst on one deployment; the report's figures (see the module's docstring)."""
    images = photo_variants(evaluations + 1, side)
    progress(f"{evaluations + 1} distinct {side}² JPEG photos made ({len(images[0]) // 1024} KiB each)")
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-vision-") as tmp:
        folder = Path(tmp)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        (folder / "judges").mkdir()
        (folder / "rubrics").mkdir()
        # A judge's limit well past the target: a slow verdict shows as seconds, not as abstentions.
        for index in range(judges):
            name = f"vision-{index + 1}"
            (folder / "judges" / f"{name}.yaml").write_text(judge_yaml(name, f"{endpoint}/v1", 60))
        (folder / "rubrics" / f"{TASK}.yaml").write_text(RUBRIC)
        extra_env = {"SENTINEL_JUDGES_DIR": str(folder / "judges"), "SENTINEL_RUBRICS_DIR": str(folder / "rubrics")}
        if in_flight is not None:
            extra_env["SENTINEL_VISION_MAX_IN_FLIGHT"] = str(in_flight)
        if not scan:
            extra_env["SENTINEL_VISION_INSTRUCTION_SCAN"] = "false"
        fake_module = ["-m", "sentinel_fakes.bench_vision"]
        fake_args = [sys.executable, *fake_module, "--port", str(port), "--latency", str(latency)]
        fake_log = log_dir / "fake-vision.log" if log_dir else None
        with ExitStack() as stack:
            if database_url:
                # A database of the run's own: another run's unfinished evaluations would be swept into this one.
                database_url = stack.enter_context(scratch_database(database_url))
            fake = stack.enter_context(started_process(fake_args, dict(os.environ), f"{endpoint}/stats", fake_log))
            running = stack.enter_context(
                deployment(redis_url, database_url, extra_env, worker_processes=1, log_dir=log_dir)
            )
            mode = "Redis + PostgreSQL, 1 worker process" if running.worker_pid else "embedded (SQLite, in-process)"
            # Embedded: the API process runs the judges, so its memory is the one that counts.
            judged_by = running.worker_pid or running.api_pid
            progress(f"{mode} up; warming up")
            _warm_up(running.base, images[-1])
            measured = {"worker": judged_by, "api": running.api_pid, "endpoint": fake.pid}
            cpu_before = {name: cpu_seconds(pid) or 0.0 for name, pid in measured.items()}
            servers_before = _servers_cpu_seconds()
            httpx.post(f"{endpoint}/stats/reset-peak")
            calls_before = httpx.get(f"{endpoint}/stats").json()["requests"]
            progress(f"submitting {evaluations} evaluations at once, {judges} vision judges each")
            errors: list[str] = []
            # The benchmark's own process does nothing else meanwhile: its CPU is the client's.
            client_before = time.process_time()
            started, done = asyncio.run(_burst(running.base, images[:evaluations], errors))
            client_cpu = time.process_time() - client_before
            stats = httpx.get(f"{endpoint}/stats").json()
            cpu = {name: (cpu_seconds(pid) or 0.0) - cpu_before[name] for name, pid in measured.items()}
            servers = {name: cpu - servers_before.get(name, 0.0) for name, cpu in _servers_cpu_seconds().items()}
            rss_tree = peak_rss_mb(judged_by)
            rss_each = [peak_rss_mb_of(pid) for pid in process_tree(judged_by)]
            fake_rss = peak_rss_mb(fake.pid)
    finished = [datetime.fromisoformat(s.answer["finished_at"]).timestamp() for s in done]
    to_verdict = [end - s.sent_at for s, end in zip(done, finished, strict=True)]
    seconds = max(finished) - started if finished else None
    counts = audit(done, judges)
    # Where the time went: the API's accept, the wait before the judges' calls, the calls, the rest (records).
    server = [
        end - datetime.fromisoformat(s.answer["created_at"]).timestamp() for s, end in zip(done, finished, strict=True)
    ]
    calls = [j["duration_ms"] / 1000 for s in done for j in s.answer["judges"]]
    # Before the judges were asked (the message's way to the worker) plus the recording after the last answer.
    around_calls = [
        end
        - datetime.fromisoformat(s.answer["created_at"]).timestamp()
        - max(j["duration_ms"] for j in s.answer["judges"]) / 1000
        for s, end in zip(done, finished, strict=True)
    ]
    # As the fake model saw them: from each call's arrival to its answer (the model's latency and its own work).
    model_calls = [ms / 1000 for ms in stats["call_ms"][calls_before:]]
    return {
        "mode": mode,
        "evaluations": evaluations,
        "judges": judges,
        "latency_seconds": latency,
        "side": side,
        "image_kib": len(images[0]) // 1024,
        "vision_max_in_flight": in_flight or Settings.model_fields["vision_max_in_flight"].default,
        "instruction_scan": scan,
        "seconds_to_last_verdict": round(seconds, 2) if seconds is not None else None,
        "p50_seconds_to_verdict": round(statistics.median(to_verdict), 2) if to_verdict else None,
        "p99_seconds_to_verdict": round(_percentile(to_verdict, 0.99), 2) if to_verdict else None,
        "seconds_to_last_accept": round(max(s.accepted_at for s in done) - started, 2) if done else None,
        "p50_seconds_created_to_verdict": round(statistics.median(server), 2) if server else None,
        "p50_seconds_created_to_verdict_outside_calls": round(statistics.median(around_calls), 2) if done else None,
        "p50_seconds_per_call": round(statistics.median(calls), 2) if calls else None,
        "p95_seconds_per_call": round(_percentile(calls, 0.95), 2) if calls else None,
        "p50_seconds_per_call_at_model": round(statistics.median(model_calls), 3) if model_calls else None,
        "p95_seconds_per_call_at_model": round(_percentile(model_calls, 0.95), 3) if model_calls else None,
        # Where each evaluation's time went (STAGES): the median, and the mean of the last 5% to reach the client.
        "stages_seconds": breakdown(done, images[:evaluations], stats["calls"][calls_before:]),
        "worker_peak_rss_mb": round(rss_tree, 1) if rss_tree is not None else None,
        "worker_peak_rss_mb_largest_process": round(max(r for r in rss_each if r is not None), 1),
        "worker_cpu_seconds": round(cpu["worker"], 2),
        "api_cpu_seconds": round(cpu["api"], 2) if running.worker_pid else None,
        # The benchmark's client (uploads, long polls): not Sentinel's, but it shares the cores.
        "client_cpu_seconds": round(client_cpu, 2),
        # Every PostgreSQL and Redis process of the machine (others' work included if the machine is not quiet).
        "postgres_cpu_seconds": round(servers["postgres"], 2) if "postgres" in servers else None,
        "redis_cpu_seconds": round(servers["redis-server"], 2) if "redis-server" in servers else None,
        "endpoint_calls": stats["requests"] - calls_before,
        "endpoint_peak_concurrent_calls": stats["most_at_once"],
        "endpoint_peak_rss_mb": round(fake_rss, 1) if fake_rss is not None else None,
        # The fake model's own CPU: if it nears the run's seconds, the fake (one process) is what limits the run.
        "endpoint_cpu_seconds": round(cpu["endpoint"], 2),
        "submitted": len(done) + len(errors),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        **counts,
        "target_met": bool(
            seconds is not None
            and seconds <= TARGET_SECONDS
            and rss_tree is not None
            and rss_tree < TARGET_RSS_MB
            and counts["done"] == evaluations
            and counts["vote_mismatch"] == 0
        ),
    }


def _servers_cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds so far of every process named ``postgres`` or ``redis-server`` on the machine, by
    name (Linux /proc; empty without it)."""
    totals: dict[str, float] = {}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name.startswith("postgres") or name == "redis-server":
            fields = text[text.rindex(")") + 2 :].split()
            key = "postgres" if name.startswith("postgres") else name
            totals[key] = totals.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return totals


def peak_rss_mb_of(pid: int) -> float | None:
    """VmHWM of one process alone, in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), None)
