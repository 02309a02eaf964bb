"""The `sentinel bench` commands that measure time, throughput and memory (registered in `bench.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sentinel.cli.common import fail, out, steps

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.


def bench_judges(
    runs: Annotated[int, typer.Option(min=1, max=100, help="timed runs per task (half as many above 1024²)")] = 5,
    side: Annotated[
        list[int] | None, typer.Option("--side", min=64, max=4096, help="image sides in pixels (repeatable)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Median time of `sentinel eval` per image for each built-in task and size, per judge, with the decode floor."""
    from sentinel.bench.judges import as_rows, bench_judges
    from sentinel.wiring import get_services

    sides = sorted(set(side or [512, 1024, 2048]))
    with steps("bench judges") as step:
        rows = as_rows(bench_judges(get_services(), runs, sides, progress=step))
    table = Table(
        title="sentinel eval per PNG, median ms (judges one after another)",
        caption="wall: elapsed time, which other work on a shared machine inflates; CPU: CPU time of the process, "
        "every thread (OCR's included), what an evaluation costs a worker whatever else runs",
        box=None,
    )
    for column in (
        "size",
        "task",
        "runs",
        "verdict",
        "wall ms",
        "CPU ms",
        "PNG decode wall ms",
        "PNG decode CPU ms",
        "× decode wall",
        "× decode CPU",
        "OCR wall ms",
        "OCR CPU ms",
        "× decode wall, OCR aside",
        "all inputs' decode wall ms",
        "all inputs' decode CPU ms",
        "judges' share of wall",
        "per judge CPU ms",
    ):
        table.add_column(column, no_wrap=column != "per judge CPU ms")
    for row in rows:
        per_judge = ", ".join(f"{k} {v:.1f}" for k, v in row["judges_cpu_ms"].items())
        table.add_row(
            f"{row['side']}²",
            row["task"],
            str(row["runs"]),
            row["verdict"],
            f"{row['median_ms']:.1f}",
            f"{row['cpu_ms']:.1f}",
            f"{row['png_decode_ms']:.1f}",
            f"{row['png_decode_cpu_ms']:.1f}",
            f"{row['decode_multiple']:.1f}",
            f"{row['decode_multiple_cpu']:.1f}" if row["decode_multiple_cpu"] is not None else "",
            f"{row['ocr_ms']:.1f}" if row["ocr_ms"] else "",
            f"{row['ocr_cpu_ms']:.1f}" if row["ocr_ms"] else "",
            f"{row['decode_multiple_without_ocr']:.1f}",
            f"{row['inputs_decode_ms']:.1f}",
            f"{row['inputs_decode_cpu_ms']:.1f}",
            f"{row['judges_share']:.0%}",
            per_judge,
        )
    Console(width=max(out.width, 260)).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


def bench_gateway(
    size_kb: Annotated[
        list[float] | None, typer.Option("--size-kb", help="image sizes in KiB (repeatable; default 64, 1024, 4096)")
    ] = None,
    size_mb: Annotated[list[float] | None, typer.Option("--size-mb", help="image sizes in MiB (repeatable)")] = None,
    concurrency: Annotated[
        list[int] | None, typer.Option(help="client concurrency levels (repeatable; default 1, 16, 64)")
    ] = None,
    requests: Annotated[int, typer.Option(min=1, max=10000, help="requests per scenario (at least 2 per client)")] = 48,
    peer: Annotated[
        list[str] | None,
        typer.Option(
            help="another gateway measured side by side, NAME=BASE_URL of its /v1, routed to the fake provider on "
            "--provider-port (repeatable), e.g. litellm=http://127.0.0.1:4000/v1"
        ),
    ] = None,
    peer_model: Annotated[str, typer.Option(help="the model name peers route to the fake provider")] = "bench",
    peer_header: Annotated[
        list[str] | None,
        typer.Option(
            help="a header sent to one peer, NAME:HEADER=VALUE (repeatable), e.g. portkey:x-portkey-provider=openai"
        ),
    ] = None,
    peer_pid: Annotated[
        list[str] | None,
        typer.Option(help="a peer's process, NAME=PID, to report its CPU per request and peak memory (repeatable)"),
    ] = None,
    provider_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="the fake provider's port (a free one if unset)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
    same_image: Annotated[
        bool,
        typer.Option(
            "--same-image",
            help="the fake provider answers the same image every time (stored once) instead of a new one per request",
        ),
    ] = False,
) -> None:
    """Added latency and throughput of /v1/images/generations over a direct call to a fake provider."""
    from sentinel.bench.gateway import BenchFailed, Peer, run

    peers: dict[str, Peer] = {}
    for item in peer or []:
        name, _, url = item.partition("=")
        if not name or not url.startswith(("http://", "https://")):
            raise fail(f"--peer takes NAME=http://host:port/v1, not {item!r}")
        peers[name] = Peer(url)
    for item in peer_header or []:
        name, _, header = item.partition(":")
        header_name, equals, value = header.partition("=")
        if name not in peers or not header_name or not equals:
            raise fail(f"--peer-header takes NAME:HEADER=VALUE for a NAME given by --peer, not {item!r}")
        peers[name].headers[header_name] = value
    for item in peer_pid or []:
        name, _, pid = item.partition("=")
        if name not in peers or not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            raise fail(f"--peer-pid takes NAME=PID of a running process for a NAME given by --peer, not {item!r}")
        peers[name].pid = int(pid)
    if peers and provider_port is None:
        raise fail("--peer needs --provider-port: the peer must be routed to the fake provider before the run")
    sizes = [*(size_kb or []), *(mb * 1024 for mb in size_mb or [])] or [64, 1024, 4096]
    try:
        with steps("bench gateway") as step:
            rows = run(
                sizes,
                concurrency or [1, 16, 64],
                requests,
                peers,
                peer_model,
                provider_port,
                progress=step,
                same_image=same_image,
            )
    except BenchFailed as exc:
        raise fail(str(exc), code=1) from exc
    table = Table(
        title="POST /v1/images/generations, fake OpenAI provider on loopback",
        caption="latencies are wall time at the clients' concurrency held (each client's first request untimed); "
        "added: over the direct call named, in the same answer format, measured just before; CPU ms/req: the "
        "gateway process's CPU time (user + system) per request",
        box=None,
    )
    columns = ("image", "clients", "scenario", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s")
    for column in (*columns, "added over", "added p50", "added p95", "added p99", "× its req/s", "CPU ms/req"):
        table.add_column(column, no_wrap=True)
    table.add_column("peak RSS", no_wrap=True)
    for row in rows:
        added = [f"{row[k]:+.1f}" if k in row else "" for k in ("added_p50_ms", "added_p95_ms", "added_p99_ms")]
        ratio = f"{row['throughput_ratio']:.2f}" if "throughput_ratio" in row else ""
        cpu = f"{row['cpu_ms_per_request']:.1f}" if row.get("cpu_ms_per_request") is not None else ""
        rss = f"{row['rss_peak_mb']:.0f} MiB" if row.get("rss_peak_mb") is not None else ""
        table.add_row(
            f"{row['image_bytes'] / 1024:.0f} KiB",
            str(row["concurrency"]),
            row["scenario"],
            str(row["requests"]),
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['per_second']:.1f}",
            row.get("baseline", ""),
            *added,
            ratio,
            cpu,
            rss,
        )
    Console(width=max(out.width, 200)).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


def bench_load(
    clients: Annotated[int, typer.Option(min=1, max=256, help="callers, each waiting for its verdict")] = 8,
    seconds: Annotated[float, typer.Option(min=5, max=3600, help="how long to keep the load on")] = 60,
    side: Annotated[int, typer.Option(min=64, max=2048, help="image side in pixels")] = 1024,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis (with --database-url): the broker, rate limits and wake-ups")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL database for the run")] = None,
    processes: Annotated[int, typer.Option(min=1, max=64, help="worker processes (with --redis-url)")] = 2,
    broker_url: Annotated[
        str | None,
        typer.Option(
            help="the queues on another broker, e.g. RabbitMQ: amqp://guest:guest@127.0.0.1:5672/VHOST "
            "(with --redis-url, which keeps rate limits and wake-ups)"
        ),
    ] = None,
    scene: Annotated[
        str,
        typer.Option(
            help="the built-in pictures judged: 'photo' (photo-like landscapes, some with a sign) or 'plain' "
            "(a flat grey square with an ellipse, the judges' floor)"
        ),
    ] = "photo",
    images: Annotated[
        Path | None, typer.Option(help="judge the PNG and JPEG files of this folder (cycled) instead of --scene")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Sustained evaluations per second (and per core), p50/p99 time to verdict, and an audit that none was lost."""
    from sentinel.bench.load import folder_images, run
    from sentinel.bench.scenes import SCENES

    if scene not in SCENES:
        raise fail(f"--scene takes {' or '.join(SCENES)}, not {scene!r}")
    if images is not None:
        try:
            folder_images(images)  # checked before anything starts: a bad file is a usage error, not a crash
        except ValueError as exc:
            raise fail(f"--images: {exc}") from exc

    if bool(redis_url) != bool(database_url):
        raise fail("--redis-url and --database-url go together")
    if broker_url and not redis_url:
        raise fail("--broker-url needs --redis-url and --database-url")
    if broker_url and not broker_url.startswith(("amqp://", "amqps://", "redis://", "rediss://")):
        raise fail(f"--broker-url takes an amqp:// or redis:// URL, not {broker_url!r}")
    with steps("bench load") as step:
        row = run(
            clients,
            seconds,
            side,
            redis_url,
            database_url,
            progress=step,
            processes=processes,
            broker_url=broker_url,
            scene=scene,
            images_dir=images,
        )
    table = Table(
        title=f"evaluations under load: text-to-image {side}² ({row['images']}), offline judges",
        caption="cores used: CPU seconds of the API and worker processes (and of the broker and database servers) "
        "/ wall seconds; per core: per second / cores used",
        box=None,
    )
    columns = ("deployment", "clients", "seconds", "per second", "cores used", "per second per core")
    for column in (*columns, "p50 ms", "p99 ms", "submitted", "lost", "errors"):
        table.add_column(column, no_wrap=True)
    table.add_row(
        row["mode"],
        str(row["clients"]),
        str(row["seconds"]),
        str(row["evaluations_per_second"]),
        f"{row.get('cores_used', '')} ({row.get('cores_used_with_servers', '')} with servers)",
        f"{row.get('evaluations_per_second_per_core', '')} "
        f"({row.get('evaluations_per_second_per_core_with_servers', '')} with servers)",
        str(row["p50_ms"]),
        str(row["p99_ms"]),
        str(row["submitted"]),
        str(row["lost"] + row["vote_mismatch"]),
        str(row["errors"]),
    )
    Console(width=max(out.width, 210)).print(table)
    if row.get("cpu_ms_per_evaluation"):
        stages = Table(title="where the CPU went, per evaluation", box=None)
        for column in ("stage", "CPU ms", "share of Sentinel's"):
            stages.add_column(column, no_wrap=True)
        for stage, ms in row["cpu_ms_per_evaluation"].items():
            share = row["share"].get(stage)
            stages.add_row(stage, f"{ms:.1f}", f"{share:.0%}" if share is not None else "(not Sentinel)")
        # Each judge's part, measured alone in this process on the same pictures: where the judges' CPU goes.
        for judge, ms in row.get("judges_alone_cpu_ms_by_judge", {}).items():
            stages.add_row(f"  judge {judge} (alone)", f"{ms:.1f}", "")
        out.print(stages)
    if json_out:
        json_out.write_text(json.dumps(row, indent=2))


def bench_vision(
    evaluations: Annotated[int, typer.Option(min=1, max=5000, help="evaluations submitted at once")] = 200,
    judges: Annotated[int, typer.Option(min=1, max=16, help="vision judges per evaluation")] = 3,
    latency: Annotated[float, typer.Option(min=0, max=30, help="the fake model's seconds per answer")] = 1.0,
    side: Annotated[int, typer.Option(min=64, max=4096, help="the judged photos' side in pixels")] = 1024,
    in_flight: Annotated[
        int | None, typer.Option(min=1, max=4096, help="SENTINEL_VISION_MAX_IN_FLIGHT (the default if unset)")
    ] = None,
    scan: Annotated[
        bool, typer.Option(help="the OCR scan for instructions to the judges (--no-scan: the calls' floor)")
    ] = True,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis broker (with --database-url): 1 worker process; embedded if unset")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="a PostgreSQL database; the run makes one of its own beside it, dropped after")
    ] = None,
    log_dir: Annotated[Path | None, typer.Option(help="keep the API's, worker's and fake model's logs here")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Evaluations at once x vision judges against a fake model with a fixed latency, on one worker process: time
    to the last verdict, p50/p99 time to verdict, the worker's peak memory and the calls in flight at once."""
    from sentinel.bench.vision import TARGET_RSS_MB, TARGET_SECONDS, run

    if bool(redis_url) != bool(database_url):
        raise fail("--redis-url and --database-url go together")
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    with steps("bench vision") as step:
        row = run(evaluations, judges, latency, side, redis_url, database_url, in_flight, scan, log_dir, progress=step)
    title = (
        f"{evaluations} evaluations at once x {judges} vision judges, model latency {latency:g} s, {side}² JPEG, "
        f"{row['vision_max_in_flight']} calls in flight at most, scan {'on' if scan else 'off'} "
        f"(target: every verdict within {TARGET_SECONDS:g} s, worker under {TARGET_RSS_MB:g} MB)"
    )
    table = Table(title=title, box=None)
    columns = ("deployment", "all accepted s", "last verdict s", "p50 s", "p99 s", "worker peak RSS", "worker CPU s")
    cpu_and_calls = ("API CPU s", "client CPU s", "call p50/p95 s (model)")
    votes = "3 votes each" if judges == 3 else "all votes"
    for column in (*columns, *cpu_and_calls, "calls", "at once", "done", votes, "target"):
        table.add_column(column, no_wrap=True)
    table.add_row(
        row["mode"],
        str(row["seconds_to_last_accept"]),
        str(row["seconds_to_last_verdict"]),
        str(row["p50_seconds_to_verdict"]),
        str(row["p99_seconds_to_verdict"]),
        f"{row['worker_peak_rss_mb']:.0f} MiB" if row["worker_peak_rss_mb"] is not None else "",
        str(row["worker_cpu_seconds"]),
        str(row["api_cpu_seconds"]),
        str(row["client_cpu_seconds"]),
        f"{row['p50_seconds_per_call']}/{row['p95_seconds_per_call']} "
        f"({row['p50_seconds_per_call_at_model']}/{row['p95_seconds_per_call_at_model']})",
        str(row["endpoint_calls"]),
        str(row["endpoint_peak_concurrent_calls"]),
        f"{row['done']}/{evaluations}",
        "yes" if row["vote_mismatch"] == 0 and row["done"] == evaluations else f"no ({row['vote_mismatch']} short)",
        "met" if row["target_met"] else "missed",
    )
    Console(width=max(out.width, 240)).print(table)
    if stages := row.get("stages_seconds"):
        spent = ", ".join(f"{name} {s['p50']:g}/{s['tail_mean']:g}" for name, s in stages.items())
        out.print(f"where the time went, seconds (median / mean of the last 5% to finish): {spent}", soft_wrap=True)
    if row["errors"] or row["abstained_votes"]:
        refused = f"{row['errors']} submissions refused ({row['first_error']})"
        out.print(f"{refused}; {row['abstained_votes']} votes abstained")
    if json_out:
        json_out.write_text(json.dumps(row, indent=2) + "\n")


def bench_jobs(
    runs: Annotated[int, typer.Option(min=1, max=1000, help="jobs per deployment")] = 50,
    side: Annotated[int, typer.Option(min=64, max=2048, help="image side in pixels")] = 1024,
    redis_url: Annotated[str | None, typer.Option(help="also measure with this Redis broker ...")] = None,
    database_url: Annotated[str | None, typer.Option(help="... and this PostgreSQL database")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Time from POST /v1/jobs to the verdict on the `local` provider, split into generation, judges, the rest."""
    from sentinel.bench.jobs import run

    with steps("bench jobs") as step:
        rows = run(runs, side, redis_url, database_url, progress=step)
    table = Table(title=f"POST /v1/jobs → verdict, text-to-image {side}², local provider, offline judges", box=None)
    for column in (
        "deployment",
        "runs",
        "median ms",
        "p95 ms",
        "generation",
        "judges (slowest)",
        "judging wall",
        "queues, DB, polling",
    ):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["mode"],
            str(row["runs"]),
            f"{row['median_total_ms']:.0f}",
            f"{row['p95_total_ms']:.0f}",
            f"{row['median_generation_ms']:.0f}",
            f"{row['median_judge_compute_ms']:.0f}",
            f"{row['median_judging_wall_ms']:.0f}",
            f"{row['median_other_ms']:.0f}",
        )
    Console(width=max(out.width, 150)).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


def bench_memory(
    uploads: Annotated[int, typer.Option(min=1, max=32, help="large images posted at once")] = 4,
    width: Annotated[int, typer.Option(min=64, max=20000, help="their width in pixels")] = 8000,
    height: Annotated[int, typer.Option(min=64, max=20000, help="their height in pixels")] = 5000,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Resident memory of `sentinel serve` when idle, at its peak while large uploads are judged, and after."""
    from sentinel.bench.memory import run

    with steps("bench memory") as step:
        row = run(uploads, width, height, progress=step)
    table = Table(title=f"POST /v1/evaluations: {uploads} × {row['megapixels']} MP PNG at once", box=None)
    for column in ("upload KiB", "idle MiB", "peak MiB", "after MiB", "after − idle", "seconds", "verdicts"):
        table.add_column(column, no_wrap=True)
    table.add_row(
        str(row["upload_kib"]),
        str(row["idle_mib"]),
        str(row["peak_mib"]),
        str(row["after_mib"]),
        f"{row['after_mib'] - row['idle_mib']:+}",
        str(row["seconds"]),
        " ".join(str(verdict) for verdict in row["verdicts"]),
    )
    Console(width=max(out.width, 150)).print(table)
    if json_out:
        json_out.write_text(json.dumps(row, indent=2) + "\n")


def bench_pipeline(
    runs: Annotated[int, typer.Option(min=1, max=1000, help="evaluations per deployment, one at a time")] = 20,
    side: Annotated[int, typer.Option(min=64, max=2048, help="image side in pixels")] = 1024,
    redis_url: Annotated[str | None, typer.Option(help="also measure with this Redis broker ...")] = None,
    database_url: Annotated[str | None, typer.Option(help="... and this PostgreSQL database")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Time from POST /v1/evaluations to the verdict, split into judge compute and queue/DB overhead."""
    from sentinel.bench.pipeline import run

    if bool(redis_url) != bool(database_url):
        raise fail("--redis-url and --database-url go together")
    with steps("bench pipeline") as step:
        rows = run(runs, side, redis_url, database_url, progress=step)
    table = Table(title=f"POST /v1/evaluations → verdict, text-to-image {side}², offline judges", box=None)
    for column in (
        "deployment",
        "runs",
        "total p50/p95 ms",
        "slowest judge p50",
        "all judges p50",
        "overhead p50/p95",
        "server verdict p50",
        "server overhead p50/p95",
    ):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["mode"],
            str(row["runs"]),
            f"{row['median_total_ms']:.0f} / {row['p95_total_ms']:.0f}",
            f"{row['median_judges_max_ms']:.0f}",
            f"{row['median_judges_sum_ms']:.0f}",
            f"{row['median_overhead_ms']:.0f} / {row['p95_overhead_ms']:.0f}",
            f"{row['median_server_ms']:.0f}",
            f"{row['median_server_overhead_ms']:.0f} / {row['p95_server_overhead_ms']:.0f}",
        )
    Console(width=max(out.width, 190)).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


def bench_cli(
    runs: Annotated[int, typer.Option(min=1, max=100, help="fresh processes timed per command")] = 10,
    side: Annotated[int, typer.Option(min=64, max=4096, help="the judged image's side in pixels")] = 1024,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Wall time and CPU time of `sentinel --help` and of `sentinel eval` of one image, start-up included."""
    from sentinel.bench.cli_start import run

    with steps("bench cli") as step:
        rows = run(runs, side, progress=step)
    table = Table(
        title="the sentinel command, fresh processes: wall time and CPU time",
        caption="wall: elapsed time, which other work on a shared machine inflates; CPU: user + system time of the "
        "command's process and the processes it waited for, what the command itself costs",
        box=None,
    )
    for column in ("command", "runs", "wall median ms", "wall min ms", "wall max ms"):
        table.add_column(column, no_wrap=True)
    for column in ("CPU median ms", "CPU min ms", "CPU max ms"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["command"],
            str(row["runs"]),
            *(f"{row[key]:.0f}" for key in ("median_ms", "min_ms", "max_ms")),
            *(f"{row[key]:.0f}" for key in ("median_cpu_ms", "min_cpu_ms", "max_cpu_ms")),
        )
    Console(width=max(out.width, 150)).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")
