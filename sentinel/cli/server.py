"""Running Sentinel: the API (`serve`) and the dramatiq workers (`worker`)."""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from typing import Annotated

import typer

from sentinel.cli.common import err, fail, make_data_folder
from sentinel.errors import SentinelError

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default SENTINEL_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="port (default SENTINEL_PORT or 8000)")] = None,
) -> None:
    """Run the API. With no settings: SQLite, blobs on disk and worker threads in this process."""
    import uvicorn

    from sentinel.pages.auth import check_reviewer_keys
    from sentinel.providers.config import load_routing
    from sentinel.settings import get_settings
    from sentinel.wiring import get_services

    if host or port is not None:
        # The app decides whether it may run open (no keys) from the address it is bound to, and the settings were
        # read (and kept) before this command ran: without reading them again the app took `--host 0.0.0.0` for
        # loopback and answered the whole network without keys.
        if host:
            os.environ["SENTINEL_HOST"] = host
        if port is not None:
            os.environ["SENTINEL_PORT"] = str(port)
        get_settings.cache_clear()
    # The settings now hold --host and --port (read again above).
    bind = get_settings()
    listeners = _listen(bind.host, bind.port)
    try:
        # Load rubrics, judges and routes now, so a broken YAML file stops start-up with its file and line.
        settings = get_services().settings
        load_routing(settings.routes)
        # Made once the files are known good (a broken rubric leaves nothing behind), before its first file is read.
        make_data_folder(settings.data_dir)
        # Likewise a bad reviewer-keys line: named now (file:line), not met by a reviewer at login.
        check_reviewer_keys(settings)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    if settings.check_providers:
        _check_provider_models()
    try:
        get_services().engine  # noqa: B018  (migrated to head now, or refused with the reason)
        # As the app's start-up checks it, but named in one line here rather than inside uvicorn's traceback.
        get_services().images.blobs.check()
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    broker = {"rabbitmq": "RabbitMQ", "redis": "Redis"}.get(settings.broker_kind)
    mode = f"{broker} broker (run `sentinel worker` too)" if broker else "in-process broker and workers"
    database = "PostgreSQL" if settings.database_url else f"SQLite in {settings.data_dir.resolve()}"
    base_url = f"http://{host or settings.host}:{port or settings.port}"
    keys = "SENTINEL_REVIEWER_KEYS" if settings.reviewer_keys else str((settings.data_dir / "reviewer-keys").resolve())
    from sentinel.ops.connections import with_header_deadline
    from sentinel.ops.shutdown import run_server
    from sentinel.telemetry.logging import configure_logging

    configure_logging(settings.log_format)
    if settings.log_format == "json":
        # Every line a JSON object when asked (a log pipeline's parser refuses anything else): the banner too.
        banner = logging.getLogger("sentinel.serve")
        banner.info("Sentinel on %s — %s, %s", base_url, mode, database)
        banner.info("Review queue and dashboard: %s/review (reviewer keys: %s)", base_url, keys)
    else:
        err.print(f"[bold]Sentinel[/] on {base_url} — {mode}, {database}", soft_wrap=True)
        err.print(
            f"Review queue and dashboard: {base_url}/review (reviewer keys: {keys})", soft_wrap=True, highlight=False
        )
    config = uvicorn.Config(
        "sentinel.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        log_config=None,  # configure_logging above: one format (text or JSON) for every line
        access_log=False,  # the app writes its own access line, with the route and the request id
        proxy_headers=False,
        http=with_header_deadline(settings.header_read_timeout_seconds),
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        timeout_keep_alive=settings.keep_alive_seconds,
    )
    run_server(config, listeners)


def _listen(host: str, port: int) -> list[socket.socket]:
    """The server's sockets, bound before anything starts (the banner, the embedded workers); a port that is taken
    or an address that is not this machine's stops start-up with one line."""
    from sentinel.ops.shutdown import listen_on

    try:
        return listen_on(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise fail(
                f"port {port} is already in use (another `sentinel serve`?); pass --port or set SENTINEL_PORT"
            ) from exc
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _check_provider_models() -> None:
    """SENTINEL_CHECK_PROVIDERS: every candidate's model asked of its provider's listing; none may be missing."""
    from sentinel.cli.ops import provider_model_checks, provider_models_table

    checks = provider_model_checks()
    err.print(provider_models_table(checks), highlight=False)
    missing = [c.target for c in checks if c.missing]
    if missing:
        raise fail(
            f"not starting: the providers do not list {', '.join(missing)} (SENTINEL_CHECK_PROVIDERS is set); "
            "update the routing file, or unset SENTINEL_CHECK_PROVIDERS to start anyway",
            code=1,
        )


@app.command()
def worker(
    processes: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 2,
    threads: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="threads per process for judging and jobs (webhooks: SENTINEL_WEBHOOK_THREADS more)"
        ),
    ] = 4,
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="serve Prometheus metrics here (SENTINEL_WORKER_METRICS_PORT)")
    ] = None,
) -> None:
    """Run dramatiq workers against Redis or RabbitMQ (production). Needs SENTINEL_BROKER_URL or SENTINEL_REDIS_URL."""
    from sentinel.settings import WORKER_TIMEOUT_MS, get_settings
    from sentinel.wiring import get_services

    settings = get_settings()
    if settings.broker_kind == "embedded":
        raise fail(
            "`sentinel worker` needs SENTINEL_BROKER_URL (amqp:// or redis://) or SENTINEL_REDIS_URL; without one, "
            "`sentinel serve` runs the workers in-process"
        )
    make_data_folder(settings.data_dir)
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
        # dramatiq's command line, its main process logging in SENTINEL_LOG_FORMAT too.
        "sentinel.ops.dramatiq_main",
        "sentinel.workflow.actors",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        # On SIGTERM, messages in flight get the grace period; the rest go back to the broker for another worker.
        "--worker-shutdown-timeout",
        str(settings.shutdown_grace_seconds * 1000),
    ]
    # How soon dramatiq's threads notice a stop (it reads this variable). An idle consumer does not poll at this
    # rate: it waits for its queue's doorbell, at most settings.worker_idle_poll_ms (sentinel.worker.wakeup).
    os.environ["dramatiq_worker_timeout"] = str(WORKER_TIMEOUT_MS)  # noqa: SIM112 (dramatiq's spelling)
    port = metrics_port or settings.worker_metrics_port
    if port:
        from sentinel.ops.metrics import prepare_worker_metrics

        os.environ.update(prepare_worker_metrics(port))
        args += ["--fork-function", "sentinel.ops.metrics:serve_worker_metrics"]
    os.execv(sys.executable, args)
