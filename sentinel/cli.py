"""The ``sentinel`` command: serve, worker, eval, rubrics."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sentinel.errors import SentinelError, format_size

app = typer.Typer(
    help="Sentinel: routed image generation with a panel of judges (green / amber / red verdicts).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rubrics_app = typer.Typer(help="List, show and validate task rubrics.", no_args_is_help=True)
app.add_typer(rubrics_app, name="rubrics")
keys_app = typer.Typer(help="API keys: create (the secret is shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
judges_app = typer.Typer(help="The judge panel: list it, try one judge on an image.", no_args_is_help=True)
app.add_typer(judges_app, name="judges")
bench_app = typer.Typer(help="Benchmarks that print tables and write JSON.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
storage_app = typer.Typer(
    help="The blob store: what is in it, deleting what nothing needs, moving it elsewhere.", no_args_is_help=True
)
app.add_typer(storage_app, name="storage")

out = Console()
err = Console(stderr=True)

VERDICT_STYLE = {"green": "bold green", "amber": "bold yellow", "red": "bold red"}


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print the error; the exit code is 2 for bad input, 1 when the work itself failed."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


@app.callback()
def _check_settings() -> None:
    # Every command reads the settings: a bad SENTINEL_* value stops it here with a line per variable, not with
    # pydantic's traceback from wherever the settings were first read.
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from sentinel.settings import get_settings, settings_problem

    try:
        get_settings()
    except ValidationError as exc:
        raise fail(settings_problem(exc)) from None
    except SettingsError as exc:
        raise fail(str(exc)) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default SENTINEL_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="port (default SENTINEL_PORT or 8000)")] = None,
) -> None:
    """Run the API. With no settings: SQLite, blobs on disk and worker threads in this process."""
    import uvicorn

    from sentinel.pages.auth import check_reviewer_keys
    from sentinel.providers.config import load_routing
    from sentinel.services import get_services

    if host:
        # The app decides whether it may run open (no keys) from the address it is bound to.
        os.environ["SENTINEL_HOST"] = host
    try:
        # Load rubrics, judges and routes now, so a broken YAML file stops start-up with its file and line.
        settings = get_services().settings
        load_routing(settings.routes)
        # Likewise a bad reviewer-keys line: named now (file:line), not met by a reviewer at login.
        check_reviewer_keys(settings)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    if settings.database_url:
        try:
            get_services().engine  # noqa: B018  (PostgreSQL: migrated to head now, or refused with the reason)
        except SentinelError as exc:
            raise fail(exc.message, code=1) from exc
    mode = "Redis broker (run `sentinel worker` too)" if settings.redis_url else "in-process broker and workers"
    database = "PostgreSQL" if settings.database_url else f"SQLite in {settings.data_dir.resolve()}"
    base_url = f"http://{host or settings.host}:{port or settings.port}"
    err.print(f"[bold]Sentinel[/] on {base_url} — {mode}, {database}", soft_wrap=True)
    keys = "SENTINEL_REVIEWER_KEYS" if settings.reviewer_keys else str((settings.data_dir / "reviewer-keys").resolve())
    err.print(f"Review queue and dashboard: {base_url}/review (reviewer keys: {keys})", soft_wrap=True, highlight=False)
    from sentinel.ops.logging import configure_logging
    from sentinel.ops.shutdown import run_server

    configure_logging(settings.log_format)
    config = uvicorn.Config(
        "sentinel.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        log_config=None,  # configure_logging above: one format (text or JSON) for every line
        access_log=False,  # the app writes its own access line, with the route and the request id
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    run_server(config)


@app.command()
def worker(
    processes: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 2,
    threads: Annotated[int, typer.Option(min=1, max=64, help="threads per process")] = 4,
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="serve Prometheus metrics here (SENTINEL_WORKER_METRICS_PORT)")
    ] = None,
) -> None:
    """Run dramatiq workers against Redis (production). Needs SENTINEL_REDIS_URL."""
    from sentinel.services import get_services
    from sentinel.settings import get_settings

    settings = get_settings()
    if not settings.redis_url:
        raise fail(
            "`sentinel worker` needs SENTINEL_REDIS_URL; without it, `sentinel serve` runs the workers in-process"
        )
    try:
        # PostgreSQL: migrated to head, or refused with the reason, before any worker starts.
        get_services().engine.dispose()
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    except OSError as exc:
        raise fail(f"cannot start the workers: {exc}", code=1) from exc
    except Exception as exc:  # the database driver's errors (unreachable, refused login)
        raise fail(f"cannot reach the database: {str(exc).splitlines()[0]}", code=1) from exc
    args = [
        sys.executable,
        "-m",
        "dramatiq",
        "sentinel.worker.actors",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        # On SIGTERM, messages in flight get the grace period; the rest go back to Redis for another worker.
        "--worker-shutdown-timeout",
        str(settings.shutdown_grace_seconds * 1000),
    ]
    # The cap of dramatiq's idle backoff (it reads this variable): a quiet queue's next message waits at most this.
    os.environ["dramatiq_worker_timeout"] = str(settings.worker_idle_poll_ms)  # noqa: SIM112 (dramatiq's spelling)
    port = metrics_port or settings.worker_metrics_port
    if port:
        from sentinel.ops.metrics import prepare_worker_metrics

        os.environ.update(prepare_worker_metrics(port))
        args += ["--fork-function", "sentinel.ops.metrics:serve_worker_metrics"]
    os.execv(sys.executable, args)


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise fail(f"--param takes key=value, got {pair!r}")
        params[key.strip()] = value
    return params


def _read_image(path: Path, what: str, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise fail(f"{what} {path}: {format_size(size)}; the limit is {format_size(max_bytes)}")
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"{what} {path}: {exc.strerror or exc}") from exc


def _print_verdict(path: Path, result: dict[str, Any]) -> None:
    verdict = result["verdict"]
    out.print(f"[{VERDICT_STYLE[verdict]}]{verdict.upper()}[/]  {path}  [dim]({result['task']})[/]", highlight=False)
    out.print(f"  {result['summary']}", highlight=False)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("judge", "criterion", "result"):
        table.add_column(column, no_wrap=True)
    for column in ("measured", "threshold", "detail"):
        table.add_column(column, overflow="fold")
    for judge in result["judges"]:
        if judge["passed"] is None:
            table.add_row(judge["judge"], "—", "[yellow]abstained[/]", "", "", judge["reasoning"])
            continue
        for criterion in judge["criteria"]:
            severity = criterion.get("severity")
            mark = "[green]pass[/]" if criterion["passed"] else f"[red]FAIL[/]{f' {severity}' if severity else ''}"
            table.add_row(
                judge["judge"],
                criterion["id"] + (" [dim](critical)[/]" if criterion.get("critical") else ""),
                mark,
                "" if criterion["measured"] is None else str(criterion["measured"]),
                "" if criterion["threshold"] is None else str(criterion["threshold"]),
                criterion["detail"],
            )
    out.print(table)
    out.print()


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="what to draw")],
    model: Annotated[
        str | None, typer.Option(help="model or alias (see GET /v1/models); default: the routing default")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, max=4, help="how many images")] = 1,
    size: Annotated[str | None, typer.Option(help="WxH, e.g. 1024x1024")] = None,
    quality: Annotated[str | None, typer.Option(help="quality tier, e.g. standard or hd")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="seed, for providers that take one")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="folder the images are written to")] = Path("generated"),
) -> None:
    """Generate images through the router (offline on the `local` provider) and say who served and why."""
    import asyncio

    from pydantic import ValidationError

    from sentinel.gateway.schemas import ImagesGenerationRequest
    from sentinel.gateway.wiring import open_gateway
    from sentinel.services import get_services

    try:
        body = ImagesGenerationRequest(prompt=prompt, model=model, n=n, size=size, quality=quality, seed=seed)
    except ValidationError as exc:
        raise fail(f"{exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from exc

    async def run() -> Any:
        gateway = await open_gateway(get_services())
        try:
            return await gateway.route(body), gateway
        finally:
            await gateway.close()

    try:
        generation, gateway = asyncio.run(run())
    except SentinelError as exc:
        raise fail(exc.message) from exc
    except OSError as exc:
        raise fail(f"could not reach a provider: {exc}", code=1) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for index, result in enumerate(generation.results):
        table = Table(box=None, title=f"image {index + 1}: attempts", title_justify="left")
        for column in ("provider", "model", "outcome", "ms", "why"):
            table.add_column(column, overflow="fold", no_wrap=column != "why")
        for attempt in result.attempts:
            style = "green" if attempt.outcome == "ok" else ("dim" if attempt.outcome == "skipped" else "yellow")
            table.add_row(
                attempt.provider,
                attempt.model,
                f"[{style}]{attempt.outcome}[/]",
                f"{attempt.latency_ms:.0f}",
                attempt.message,
            )
        out.print(table)
        image = result.image
        if image is None:
            reason = result.last_failure.message if result.last_failure else "no candidate could serve it"
            err.print(f"[red]image {index + 1} failed:[/] {reason}", highlight=False, soft_wrap=True)
            continue
        extension = image.info.mime.split("/")[1].replace("jpeg", "jpg")
        path = out_dir / f"{image.info.sha256[:16]}.{extension}"
        path.write_bytes(image.data)
        written += 1
        out.print(
            f"[green]✓[/] {path}  {image.info.width}×{image.info.height} {image.info.mime}, "
            f"served by {image.provider}:{image.model}\n",
            highlight=False,
        )
    if written == 0:
        raise fail(gateway.failure(generation).message, code=1)


@app.command("eval")
def eval_command(
    images: Annotated[list[Path], typer.Argument(help="image file(s) to evaluate")],
    task: Annotated[str, typer.Option("--task", "-t", help="task id, see `sentinel rubrics list`")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="task param key=value (repeatable)")] = None,
    source: Annotated[Path | None, typer.Option(help="edit tasks: the image before the edit")] = None,
    mask: Annotated[Path | None, typer.Option(help="edit tasks: mask, white marks the region")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print JSON (one object per image) instead of tables")
    ] = False,
) -> None:
    """Judge image(s) in-process, no server needed. Exit 0 for any verdict, 2 for bad input."""
    from sentinel.evaluation.local import evaluate_files
    from sentinel.services import get_services

    try:
        services = get_services()
        settings = services.settings
        params = _parse_params(param or [])
        extra = {
            name: _read_image(path, name, settings.max_image_bytes)
            for name, path in (("source", source), ("mask", mask))
            if path is not None
        }
        inputs = [(path, _read_image(path, "image", settings.max_image_bytes)) for path in images]
        results: list[tuple[Path, dict[str, Any]]] = []
        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=len(inputs) < 2 or not err.is_terminal,
        ) as progress:
            bar = progress.add_task("judging", total=len(inputs))
            for path, result in evaluate_files(services, task, params, inputs, extra):
                results.append((path, result))
                progress.advance(bar)
                if not as_json:
                    _print_verdict(path, result)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    if as_json:
        documents = [{"image": str(path), **result} for path, result in results]
        sys.stdout.write(json.dumps(documents[0] if len(documents) == 1 else documents, ensure_ascii=False) + "\n")
        return
    if len(results) > 1:
        table = Table(title=f"{len(results)} images in {time.perf_counter() - started:.1f} s", box=None)
        for column in ("image", "verdict", "summary"):
            table.add_column(column, overflow="fold")
        for path, result in results:
            verdict = result["verdict"]
            table.add_row(str(path), f"[{VERDICT_STYLE[verdict]}]{verdict}[/]", result["summary"])
        out.print(table)


def _key_service() -> Any:
    from sentinel.keys.service import KeyService
    from sentinel.services import get_services

    return KeyService(get_services())


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what uses the key, e.g. ci-bot")],
    scopes: Annotated[
        str, typer.Option(help="comma-separated: generate, evaluate, review, admin")
    ] = "generate,evaluate",
    spend_cap: Annotated[float | None, typer.Option(help="USD per period; no cap if unset")] = None,
    period: Annotated[str | None, typer.Option(help="day or month (with --spend-cap)")] = None,
    rpm: Annotated[int | None, typer.Option(help="requests per minute (default SENTINEL_DEFAULT_KEY_RPM)")] = None,
    tenant: Annotated[
        str | None,
        typer.Option(help="keys of one tenant see each other's jobs, evaluations and images; default: its own"),
    ] = None,
) -> None:
    """Create a key. Its secret is printed once, on stdout; only a hash is stored."""
    try:
        key, token = _key_service().create(
            name, [s.strip() for s in scopes.split(",") if s.strip()], spend_cap, period, rpm, tenant
        )
    except SentinelError as exc:
        raise fail(exc.message) from exc
    cap = f", cap ${key.spend_cap:g} per {key.spend_period}" if key.spend_cap else ""
    err.print(
        f"created key [bold]{key.name}[/] ({key.id}; tenant {key.tenant}; scopes {', '.join(key.scopes)}{cap}). ",
        end="",
    )
    err.print("The secret is shown once: store it now.", style="bold yellow")
    sys.stdout.write(token + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Every key, without secrets."""
    try:
        keys = _key_service().list()
    except SentinelError as exc:
        raise fail(exc.message) from exc
    table = Table(box=None)
    for column in ("id", "name", "tenant", "prefix", "scopes", "spend cap", "rpm", "created", "state"):
        table.add_column(column)
    for key in keys:
        cap = f"${key.spend_cap:g}/{key.spend_period}" if key.spend_cap else ""
        state = "[red]revoked[/]" if key.revoked_at else "active"
        created = key.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(
            key.id,
            key.name,
            key.tenant or key.id,
            key.prefix + "…",
            ", ".join(key.scopes),
            cap,
            str(key.rpm or ""),
            created,
            state,
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="the key's id or name")]) -> None:
    """Revoke a key: refused from then on (API processes notice within 10 s)."""
    try:
        revoked = _key_service().revoke(key)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    err.print(f"revoked {revoked.name} ({revoked.id})")


def _storage() -> tuple[Any, Any]:
    from sentinel.services import get_services
    from sentinel.store.maintenance import StorageMaintenance

    services = get_services()
    return services, StorageMaintenance(services.engine, services.images.blobs)


def _counting(label: str, total: int | None = None) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}" + (f"/{total}" if total else "")),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@storage_app.command("info")
def storage_info() -> None:
    """Which store this configuration uses, how image URLs are handed out, and what the store holds."""
    try:
        services, maintenance = _storage()
        blobs, total = maintenance.count(services.images.blobs)
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    settings = services.settings
    urls = (
        f"presigned by the store, valid {settings.presign_ttl_seconds} s"
        if services.images.presigned
        else "/v1/images/{id}, served by Sentinel"
    )
    retention = f"{settings.image_retention_days:g} days" if settings.image_retention_days else "keep forever"
    table = Table(box=None, show_header=False)
    for name, value in (
        ("store", services.images.blobs.describe()),
        ("kind", services.images.blobs.kind),
        ("blobs", f"{blobs} ({format_size(total)})"),
        ("image URLs", urls),
        ("retention", retention),
    ):
        table.add_row(name, value)
    out.print(table)


@storage_app.command("gc")
def storage_gc(
    grace_minutes: Annotated[
        float, typer.Option(help="leave images stored less than this long ago alone (their rows may still come)")
    ] = 60.0,
    retention_days: Annotated[
        float | None,
        typer.Option(
            help="delete images of jobs finished longer ago than this (default SENTINEL_IMAGE_RETENTION_DAYS)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be deleted, delete nothing")] = False,
) -> None:
    """Delete blobs nothing live needs. Safe while Sentinel runs: an image a job is storing is never deleted."""
    from datetime import timedelta

    if grace_minutes < 0 or (retention_days is not None and retention_days <= 0):
        raise fail("--grace-minutes must be 0 or more and --retention-days more than 0")
    try:
        services, maintenance = _storage()
        days = retention_days if retention_days is not None else services.settings.image_retention_days
        with _counting("collecting") as progress:
            task = progress.add_task("gc")
            report = maintenance.gc(
                grace=timedelta(minutes=grace_minutes),
                retention=timedelta(days=days) if days else None,
                dry_run=dry_run,
                progress=lambda n: progress.advance(task, n),
            )
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    if dry_run:
        for sha256 in report.would_delete:
            out.print(sha256, highlight=False)
        err.print(f"dry run: {len(report.would_delete)} blobs ({format_size(report.freed_bytes)}) would be deleted")
        return
    err.print(
        f"deleted {report.deleted} unreferenced images, {report.purged} past retention and "
        f"{report.orphans} orphan blobs; freed {format_size(report.freed_bytes)} "
        f"(looked at {report.scanned_rows} candidate rows and {report.scanned_blobs} blobs)"
    )


@storage_app.command("migrate")
def storage_migrate(
    to: Annotated[str, typer.Option("--to", help="the store to copy into: s3://bucket/prefix, file:///path, database")],
    source: Annotated[
        str | None, typer.Option("--from", help="the store to copy from (default: the configured one)")
    ] = None,
) -> None:
    """Copy every blob to another store, checking each hash; nothing is deleted, and it can run again.

    Without downtime: run it, restart Sentinel with SENTINEL_BLOB_URL=<new> and SENTINEL_BLOB_FALLBACK_URL=<old>
    (reads that miss go to the old store), run it again with --from <old> to catch what was written meanwhile,
    then drop the fallback.
    """
    from sentinel.store.backends import open_blob_store

    try:
        services, maintenance = _storage()
        origin = open_blob_store(source, services.settings) if source else services.images.blobs
        target = open_blob_store(to, services.settings)
        target.check()
        err.print(f"copying from {origin.describe()} to {target.describe()}")
        with _counting("copying") as progress:
            task = progress.add_task("migrate")
            report = maintenance.migrate(origin, target, progress=lambda n: progress.advance(task, n))
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    for sha256, reason in report.failed.items():
        err.print(f"[red]not copied[/] {sha256}: {reason}", highlight=False)
    err.print(
        f"copied {report.copied} blobs ({format_size(report.copied_bytes)}), "
        f"{report.already_there} were already there, {len(report.failed)} failed"
    )
    if report.failed:
        raise typer.Exit(code=1)
    if not source:
        err.print(
            f"next: restart Sentinel with SENTINEL_BLOB_URL={to} and SENTINEL_BLOB_FALLBACK_URL="
            f"{services.settings.blob_url or 'file://' + str(services.settings.resolved_blob_dir)}, "
            "then run this again with --from set to the old store",
            highlight=False,
        )


@judges_app.command("list")
def judges_list() -> None:
    """The panel (SENTINEL_JUDGES_DIR or the built-in judges/)."""
    from sentinel.services import get_services

    try:
        panel = get_services().panel
    except SentinelError as exc:
        raise fail(exc.message) from exc
    table = Table(box=None)
    for column in ("judge", "kind", "votes on", "escalation", "model", "timeout"):
        table.add_column(column)
    for judge in panel.judges:
        vision = panel.vision.get(judge.name)
        model = f"{vision.options.api}: {vision.options.model}" if vision else ""
        table.add_row(
            judge.name, judge.kind, judge.owns, "yes" if judge.escalate else "", model, f"{judge.timeout_seconds:g} s"
        )
    out.print(table)


@judges_app.command("test")
def judges_test(
    judge: Annotated[str, typer.Argument(help="judge name, see `sentinel judges list`")],
    image: Annotated[Path, typer.Argument(help="image file to judge")],
    task: Annotated[str, typer.Option("--task", "-t", help="task id, see `sentinel rubrics list`")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="task param key=value (repeatable)")] = None,
    source: Annotated[Path | None, typer.Option(help="edit tasks: the image before the edit")] = None,
    mask: Annotated[Path | None, typer.Option(help="edit tasks: mask, white marks the region")] = None,
) -> None:
    """Try one judge on one image: the raw prompt it sends, the raw reply, and the vote it makes of it."""
    from sentinel.evaluation.local import try_judge
    from sentinel.services import get_services

    try:
        services = get_services()
        limit = services.settings.max_image_bytes
        extra = {name: _read_image(path, name, limit) for name, path in (("source", source), ("mask", mask)) if path}
        vote, transcript = try_judge(
            services, judge, task, _parse_params(param or []), _read_image(image, "image", limit), extra
        )
    except SentinelError as exc:
        raise fail(exc.message) from exc
    for number, exchange in enumerate(transcript, start=1):
        out.rule(f"request {number}", style="dim")
        out.print_json(json.dumps(exchange.request, ensure_ascii=False))
        status = exchange.status if exchange.status is not None else "no answer"
        out.rule(f"reply {number} ({status})", style="dim")
        if exchange.error:
            out.print(f"[yellow]{exchange.error}[/]", highlight=False, soft_wrap=True)
        elif isinstance(exchange.reply, dict):
            out.print_json(json.dumps(exchange.reply, ensure_ascii=False))
        else:
            out.print(exchange.reply or "", highlight=False, markup=False, soft_wrap=True)
    out.rule("vote", style="dim")
    verdict = "abstained" if vote.passed is None else ("passed" if vote.passed else "failed")
    style = "dim" if vote.passed is None else ("green" if vote.passed else "red")
    out.print(f"[bold]{vote.judge}[/] [{style}]{verdict}[/] in {vote.duration_ms:.0f} ms", highlight=False)
    out.print(vote.reasoning, highlight=False, markup=False, soft_wrap=True)
    if vote.usage:
        usage = vote.usage
        cost = "cost unknown" if usage.get("cost") is None else f"about ${usage['cost']:.4f}"

        def tokens(name: str) -> str:
            return "unknown" if usage.get(name) is None else str(usage[name])

        out.print(
            f"{usage['calls']} call(s), {tokens('input_tokens')} input + {tokens('output_tokens')} output tokens, "
            f"{cost}",
            highlight=False,
        )


@rubrics_app.command("list")
def rubrics_list() -> None:
    """The tasks Sentinel knows (built-in and SENTINEL_RUBRICS_DIR)."""
    from sentinel.services import get_services

    try:
        rubrics = get_services().rubrics.all()
    except SentinelError as exc:
        raise fail(exc.message) from exc
    table = Table(box=None)
    table.add_column("task", no_wrap=True)
    for column in ("title", "inputs", "params", "criteria"):
        table.add_column(column, overflow="fold")
    for rubric in rubrics:
        params = ", ".join(f"{n}{'*' if s.required else ''}" for n, s in rubric.params.items())
        table.add_row(rubric.id, rubric.title, ", ".join(rubric.inputs), params, str(len(rubric.criteria)))
    out.print(table)
    out.print("[dim]* required param[/]")


#: The task policies, as `rubrics show` says them.
RED_WHEN_WORDS = {
    "any_severe": "one severe failure (a critical criterion's failure is severe)",
    "any_moderate": "one moderate or severe failure",
    "any_failed": "any failure",
}


@rubrics_app.command("show")
def rubrics_show(task: Annotated[str, typer.Argument(help="task id")]) -> None:
    """A task's params and criteria."""
    from sentinel.services import get_services

    try:
        rubric = get_services().rubrics.get(task)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    out.print(f"[bold]{rubric.id}[/] — {rubric.title}\n{rubric.description}\n", highlight=False)
    out.print(f"inputs: {', '.join(rubric.inputs)}")
    for name, spec in rubric.params.items():
        flag = "required" if spec.required else "optional"
        out.print(f"param [bold]{name}[/] ({spec.type}, {flag}): {spec.description}", highlight=False)
    out.print(f"red when: two or more judges fail, or {RED_WHEN_WORDS[rubric.red_when]}")
    table = Table(box=None)
    table.add_column("criterion", no_wrap=True)
    for column in ("judge", "check", "severity", "must", "fix"):
        table.add_column(column, overflow="fold")
    for c in rubric.criteria:
        if isinstance(c.severity, str):
            severity = f"always {c.severity}"
        elif c.severity is not None:
            severity = ", ".join(
                f"{name} at {value:g}" for name, value in c.severity.model_dump(exclude_none=True).items()
            )
        else:
            severity = "critical: severe" if c.critical else "the check's bands"
        table.add_row(
            c.id,
            c.judge,
            c.check or "ask",
            severity,
            c.must + (f" — {c.ask}" if c.ask else ""),
            " ".join((c.fix or "").split()),
        )
    Console(width=max(out.width, 160)).print(table)


@rubrics_app.command("checks")
def rubrics_checks() -> None:
    """Every offline check a criterion can use: its settings, the measure its severity bands grade, its fix."""
    from sentinel.evaluation.judges import KINDS

    table = Table(box=None)
    for column in ("judge", "check", "settings (default)", "graded measure", "moderate at", "severe at", "fix"):
        table.add_column(column, overflow="fold", no_wrap=column in ("judge", "check"))
    for kind in KINDS.values():
        for check in kind.checks.values():
            settings = ", ".join(
                f"{name}={field.default!r}" for name, field in check.settings_model.model_fields.items()
            )
            bands = check.bands
            if bands is None:
                measure, moderate, severe = "— (the check grades its failures itself)", "", ""
            else:
                sign = "≤" if bands.higher_is_better else "≥"
                measure = bands.measure
                moderate = "" if bands.moderate is None else f"{sign} {bands.moderate:g}"
                severe = "" if bands.severe is None else f"{sign} {bands.severe:g}"
            needs = f" (needs {', '.join(check.needs)})" if check.needs else ""
            table.add_row(
                kind.name, check.name + needs, settings, measure, moderate, severe, " ".join(check.fix.split())
            )
    Console(width=max(out.width, 200)).print(table)


@rubrics_app.command("validate")
def rubrics_validate(
    paths: Annotated[list[Path], typer.Argument(help="rubric YAML files or folders")],
) -> None:
    """Check rubric files you wrote; errors name the file, line, field and problem."""
    from sentinel.rubrics.loader import load_rubric

    files: list[Path] = []
    for path in paths:
        files += sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    if not files:
        raise fail("no rubric files found")
    problems = 0
    for file in files:
        try:
            rubric = load_rubric(file)
        except SentinelError as exc:
            problems += 1
            err.print(f"[red]✗[/] {exc.message}", highlight=False, soft_wrap=True)
            continue
        out.print(f"[green]✓[/] {file}: task '{rubric.id}', {len(rubric.criteria)} criteria", highlight=False)
    if problems:
        raise typer.Exit(code=2)


@bench_app.command("judges")
def bench_judges(
    runs: Annotated[int, typer.Option(min=1, max=100, help="timed runs per task (half as many above 1024²)")] = 5,
    side: Annotated[
        list[int] | None, typer.Option("--side", min=64, max=4096, help="image sides in pixels (repeatable)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Median time of `sentinel eval` per image for each built-in task and size, per judge, with the decode floor."""
    from sentinel.bench import as_rows, bench_judges
    from sentinel.services import get_services

    sides = sorted(set(side or [512, 1024, 2048]))
    rows = as_rows(bench_judges(get_services(), runs, sides))
    table = Table(title="sentinel eval per PNG, median ms (judges one after another)", box=None)
    for column in (
        "size",
        "task",
        "runs",
        "verdict",
        "median ms",
        "PNG decode ms",
        "× decode",
        "OCR ms",
        "× decode, OCR aside",
        "all inputs' decode ms",
        "judges' share",
        "per judge ms",
    ):
        table.add_column(column, no_wrap=column != "per judge ms")
    for row in rows:
        per_judge = ", ".join(f"{k} {v:.1f}" for k, v in row["judges_ms"].items())
        table.add_row(
            f"{row['side']}²",
            row["task"],
            str(row["runs"]),
            row["verdict"],
            f"{row['median_ms']:.1f}",
            f"{row['png_decode_ms']:.1f}",
            f"{row['decode_multiple']:.1f}",
            f"{row['ocr_ms']:.1f}" if row["ocr_ms"] else "",
            f"{row['decode_multiple_without_ocr']:.1f}",
            f"{row['inputs_decode_ms']:.1f}",
            f"{row['judges_share']:.0%}",
            per_judge,
        )
    Console(width=max(out.width, 190)).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


@bench_app.command("accuracy")
def bench_accuracy(
    cases: Annotated[Path | None, typer.Option(help="labelled cases (default fixtures/cases.yaml)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="cases judged at once (default: cores)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """The panel against labelled cases; exit 1 if a severe defect is not red or a clean image is red."""
    from sentinel.bench_accuracy import DEFAULT_CASES, KINDS, SEVERITIES, load_cases, run

    cases = cases or DEFAULT_CASES
    with _counting("judging cases", total=len(load_cases(cases))) as bar:
        task = bar.add_task("accuracy", total=len(load_cases(cases)))
        report = run(cases, workers=workers, progress=lambda done, _: bar.update(task, completed=done))
    console = Console(width=max(out.width, 160))
    table = Table(title=f"panel accuracy on {report['cases']} labelled cases ({report['seconds']:.1f} s)", box=None)
    for column in ("", "cases", "correct", "green", "amber", "red"):
        table.add_column(column, no_wrap=True)

    def add(label: str, tally: dict[str, Any], style: str = "") -> None:
        if not tally["cases"]:
            return
        share = f"{tally['correct']}/{tally['cases']} ({tally['share']:.0%})"
        counts = [str(tally["verdicts"][v]) for v in ("green", "amber", "red")]
        table.add_row(label, str(tally["cases"]), share, *counts, style=style)

    for task, tally in report["by_task"].items():
        add(task, tally)
    table.add_section()
    for kind in KINDS:
        add(kind, report["by_kind"][kind])
    for severity in SEVERITIES:
        add(f"  defect, {severity}", report["by_severity"][severity])
    table.add_section()
    add("all", report["overall"], "bold")
    console.print(table)
    false = report["false_fail"]
    console.print(
        f"clean images and hard negatives not green: {false['amber'] + false['red']} of {false['cases']} "
        f"({(false['rate'] or 0):.1%}; {false['red']} red, {false['amber']} amber); severe defects not red: "
        f"{len(report['severe_missed'])}. Right verdicts: clean and hard negatives green; mild green or amber; "
        "moderate amber or red; severe red."
    )
    if report["misses"]:
        missed = Table(title="misses", box=None, title_justify="left")
        for column in ("case", "kind", "severity", "wanted", "got", "summary"):
            missed.add_column(column, no_wrap=column != "summary")
        for miss in report["misses"]:
            missed.add_row(
                miss["id"], miss["kind"], miss["severity"], "/".join(miss["accepted"]), miss["verdict"], miss["summary"]
            )
        console.print(missed)
    if json_out:
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    if not report["ok"]:
        problems = [f"severe defects not red: {', '.join(report['severe_missed'])}"] if report["severe_missed"] else []
        if report["clean_red"]:
            problems.append(f"clean images red: {', '.join(report['clean_red'])}")
        err.print(f"[red]{'; '.join(problems)}[/]", highlight=False)
        raise typer.Exit(code=1)


@bench_app.command("signs")
def bench_signs(
    phrase: Annotated[
        list[str] | None, typer.Option(help="a phrase to render (repeatable; default: 12 phrases)")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="seeds per phrase")] = 6,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Signs drawn by the local renderer that a plain OCR pass reads: how many the panel calls green."""
    from sentinel.bench_signs import PHRASES, run

    report = run(tuple(phrase or PHRASES), tuple(range(1, seeds + 1)))
    console = Console(width=max(out.width, 160))
    console.print(
        f"text-render on the local renderer's signs: {report['green']} of {report['judged']} legible signs green "
        f"({report['green_share']:.0%}), {report['contradictions']} self-contradicting summaries; "
        f"{len(report['dropped'])} of {report['rendered']} renders dropped (a plain OCR pass does not read them) "
        f"({report['seconds']:.0f} s)",
        highlight=False,
    )
    for failure in report["failures"]:
        console.print(
            f"  [yellow]{failure['verdict']}[/] {failure['phrase']!r} seed {failure['seed']}: {failure['summary']}"
        )
    if json_out:
        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


@bench_app.command("gateway")
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
) -> None:
    """Added latency and throughput of /v1/images/generations over a direct call to a fake provider."""
    from sentinel.bench_gateway import BenchFailed, Peer, run

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
        rows = run(sizes, concurrency or [1, 16, 64], requests, peers, peer_model, provider_port)
    except BenchFailed as exc:
        raise fail(str(exc), code=1) from exc
    table = Table(title="POST /v1/images/generations, fake OpenAI provider on loopback", box=None)
    columns = ("image", "clients", "scenario", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s")
    for column in (*columns, "added p50", "added p95", "added p99", "× direct req/s", "CPU ms/req", "peak RSS"):
        table.add_column(column, no_wrap=True)
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
            *added,
            ratio,
            cpu,
            rss,
        )
    Console(width=max(out.width, 180)).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


@bench_app.command("load")
def bench_load(
    clients: Annotated[int, typer.Option(min=1, max=256, help="callers, each waiting for its verdict")] = 8,
    seconds: Annotated[float, typer.Option(min=5, max=3600, help="how long to keep the load on")] = 60,
    side: Annotated[int, typer.Option(min=64, max=2048, help="image side in pixels")] = 1024,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis broker (with --database-url): 2 worker processes")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL database for the run")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Sustained evaluations per second, p50/p99 time to verdict, and an audit that none was lost."""
    from sentinel.bench_load import run

    if bool(redis_url) != bool(database_url):
        raise fail("--redis-url and --database-url go together")
    row = run(clients, seconds, side, redis_url, database_url)
    table = Table(title=f"evaluations under load: text-to-image {side}², offline judges", box=None)
    for column in ("deployment", "clients", "seconds", "per second", "p50 ms", "p99 ms", "submitted", "lost", "errors"):
        table.add_column(column, no_wrap=True)
    table.add_row(
        row["mode"],
        str(row["clients"]),
        str(row["seconds"]),
        str(row["evaluations_per_second"]),
        str(row["p50_ms"]),
        str(row["p99_ms"]),
        str(row["submitted"]),
        str(row["lost"] + row["vote_mismatch"]),
        str(row["errors"]),
    )
    Console(width=max(out.width, 150)).print(table)
    if row.get("cpu_ms_per_evaluation"):
        stages = Table(title="where the CPU went, per evaluation", box=None)
        for column in ("stage", "CPU ms", "share of Sentinel's"):
            stages.add_column(column, no_wrap=True)
        for stage, ms in row["cpu_ms_per_evaluation"].items():
            share = row["share"].get(stage)
            stages.add_row(stage, f"{ms:.1f}", f"{share:.0%}" if share is not None else "(not Sentinel)")
        out.print(stages)
    if json_out:
        json_out.write_text(json.dumps(row, indent=2))


@bench_app.command("jobs")
def bench_jobs(
    runs: Annotated[int, typer.Option(min=1, max=1000, help="jobs per deployment")] = 50,
    side: Annotated[int, typer.Option(min=64, max=2048, help="image side in pixels")] = 1024,
    redis_url: Annotated[str | None, typer.Option(help="also measure with this Redis broker ...")] = None,
    database_url: Annotated[str | None, typer.Option(help="... and this PostgreSQL database")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Time from POST /v1/jobs to the verdict on the `local` provider, split into generation, judges, the rest."""
    from sentinel.bench_jobs import run

    rows = run(runs, side, redis_url, database_url)
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


@bench_app.command("regenerate")
def bench_regenerate(
    jobs: Annotated[int, typer.Option(min=1, max=100, help="jobs per scenario")] = 6,
    max_attempts: Annotated[int, typer.Option(min=1, max=10, help="each job's max_attempts")] = 3,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="jobs in flight at once")] = 4,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Whether regeneration converges: jobs whose first image has a fixable defect, and controls, on `local`."""
    from sentinel.bench_regenerate import run

    report = run(jobs, max_attempts, concurrency)
    table = Table(title=f"Jobs on the local provider, max_attempts {max_attempts}", box=None)
    for column in ("scenario", "task", "jobs", "green", "mean attempts", "first attempt g/a/r/none", "notes"):
        table.add_column(column, no_wrap=True)
    for row in report["scenarios"]:
        first = row["first_attempt_verdicts"]
        if "good_first_attempts_red" in row:
            note = f"good first attempt judged red: {row['good_first_attempts_red']}"
        else:
            note = f"defect judged not red: {row['defective_first_attempts_not_red']}"
        table.add_row(
            row["scenario"],
            row["task"],
            str(row["jobs"]),
            f"{row['green']} ({row['green_share']:.0%})",
            f"{row['mean_attempts']:.2f}",
            f"{first['green']}/{first['amber']}/{first['red']}/{first['no image']}",
            note,
        )
    console = Console(width=max(out.width, 160))
    console.print(table)
    for row in report["tasks"]:
        console.print(
            f"{row['task']}: {row['green_within_max_attempts']:.0%} of {row['fixable_jobs']} fixable jobs green within "
            f"{max_attempts} attempts ({row['mean_attempts']:.2f} attempts each); good first attempts judged red: "
            f"{row['good_first_attempts_red']} of {row['good_first_attempts']}"
        )
    for row in report["scenarios"]:
        for job in row["not_green"]:
            summary = job["last_summary"]
            console.print(f"[yellow]not green[/] {row['scenario']}: {job['id']} {job['verdict']}: {summary}")
    if json_out:
        json_out.write_text(json.dumps(report, indent=2) + "\n")


@bench_app.command("memory")
def bench_memory(
    uploads: Annotated[int, typer.Option(min=1, max=32, help="large images posted at once")] = 4,
    width: Annotated[int, typer.Option(min=64, max=20000, help="their width in pixels")] = 8000,
    height: Annotated[int, typer.Option(min=64, max=20000, help="their height in pixels")] = 5000,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Resident memory of `sentinel serve` when idle, at its peak while large uploads are judged, and after."""
    from sentinel.bench_memory import run

    row = run(uploads, width, height)
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


@bench_app.command("pipeline")
def bench_pipeline(
    runs: Annotated[int, typer.Option(min=1, max=1000, help="evaluations per deployment, one at a time")] = 20,
    side: Annotated[int, typer.Option(min=64, max=2048, help="image side in pixels")] = 1024,
    redis_url: Annotated[str | None, typer.Option(help="also measure with this Redis broker ...")] = None,
    database_url: Annotated[str | None, typer.Option(help="... and this PostgreSQL database")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Time from POST /v1/evaluations to the verdict, split into judge compute and queue/DB overhead."""
    from sentinel.bench_pipeline import run

    if bool(redis_url) != bool(database_url):
        raise fail("--redis-url and --database-url go together")
    rows = run(runs, side, redis_url, database_url)
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


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="print the checks as JSON")] = False,
) -> None:
    """Check this deployment's configuration and connectivity, and say what is wrong. Exit 1 if a check fails."""
    from sentinel.ops.doctor import run_checks

    results = run_checks()
    if as_json:
        sys.stdout.write(json.dumps([r.to_dict() for r in results], ensure_ascii=False) + "\n")
    else:
        table = Table(box=None)
        table.add_column("check", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("found", overflow="fold")
        table.add_column("what to do", overflow="fold")
        marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
        for result in results:
            table.add_row(result.name, marks[result.status], result.detail, result.hint, style=None)
        Console(width=max(out.width, 140)).print(table, highlight=False)
        failed = sum(not r.ok for r in results)
        warned = sum(r.status == "warn" for r in results)
        summary = f"{failed} failed, {warned} warnings, {len(results) - failed - warned} ok"
        out.print(f"[bold red]{summary}[/]" if failed else f"[green]{summary}[/]", highlight=False)
    if any(not r.ok for r in results):
        raise typer.Exit(code=1)


@app.command()
def migrate(
    sql: Annotated[bool, typer.Option("--sql", help="print the SQL instead of running it")] = False,
) -> None:
    """Bring the PostgreSQL database to the newest schema (SQLite: create missing tables). Safe to run again."""
    from sentinel.db.migrate import head, upgrade, upgrade_sql
    from sentinel.ops.health import redact_url
    from sentinel.ops.logging import log_to_stderr
    from sentinel.settings import Settings

    try:
        settings = Settings()
    except ValueError as exc:
        raise fail(f"settings: {exc}") from exc
    url = settings.resolved_database_url
    if not url.startswith("postgresql"):
        if sql:
            raise fail("--sql is for PostgreSQL; SQLite databases are made by create_all at start-up")
        from sentinel.db import engine_for

        engine_for(settings).dispose()
        err.print(f"SQLite {url.removeprefix('sqlite:///')}: every table exists (migrations are for PostgreSQL)")
        return
    if sql:
        upgrade_sql(url)
        return
    log_to_stderr("alembic", settings.log_format)  # "Running upgrade 0001 -> 0002, …"
    try:
        at = upgrade(url)
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    except Exception as exc:
        raise fail(f"{redact_url(url)}: {exc}", code=1) from exc
    err.print(f"{redact_url(url)}: at revision {at} (head {head()})", highlight=False, soft_wrap=True)


if __name__ == "__main__":
    app()
