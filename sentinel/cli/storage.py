"""`sentinel storage`: what the blob store holds, collecting garbage, moving it to another store."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sentinel.cli.common import counting, err, fail, out
from sentinel.errors import SentinelError, format_size
from sentinel.settings import MAX_RETENTION_DAYS

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer(
    help="The blob store: what is in it, deleting what nothing needs, moving it elsewhere.", no_args_is_help=True
)


def _storage() -> tuple[Any, Any]:
    from sentinel.store.maintenance import StorageMaintenance
    from sentinel.wiring import get_services

    services = get_services()
    return services, StorageMaintenance(services.engine, services.images.blobs)


@app.command("info")
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


@app.command("gc")
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

    # Finite and at most a century: nan passes every comparison, and a longer span overflows timedelta or puts the
    # cut-off before the year 1 (a traceback after the store was opened, instead of this message).
    if not 0 <= grace_minutes <= MAX_RETENTION_DAYS * 24 * 60:
        raise fail(f"--grace-minutes must be from 0 to {MAX_RETENTION_DAYS * 24 * 60} (a century)")
    if retention_days is not None and not 0 < retention_days <= MAX_RETENTION_DAYS:
        raise fail(f"--retention-days must be more than 0 and at most {MAX_RETENTION_DAYS} (a century)")
    try:
        services, maintenance = _storage()
        days = retention_days if retention_days is not None else services.settings.image_retention_days
        with counting("collecting") as progress:
            task = progress.add_task("gc")
            report = maintenance.gc(
                grace=timedelta(minutes=grace_minutes),
                retention=timedelta(days=days) if days else None,
                dry_run=dry_run,
                progress=lambda n: progress.advance(task, n),
            )
        unstored = answers = 0
        if not dry_run:
            from sentinel.idempotency.kept import kept_answers
            from sentinel.jobs.unstored import unstored_images

            # Images this machine kept while the store was away whose job ended, or that the store holds since.
            unstored = unstored_images(services).sweep(services.engine).dropped
            # Answers kept for Idempotency-Key retries while the database was away that no retry came for.
            answers = kept_answers(services.settings.data_dir).sweep()
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
    if unstored:
        err.print(f"dropped {unstored} image(s) kept on this machine while the store was away that no job wants now")
    if answers:
        err.print(f"dropped {answers} answer(s) kept on this machine for Idempotency-Key retries that never came")


@app.command("migrate")
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
        # A store the command line names that cannot be opened is a wrong command (2), not failed work (1).
        origin = open_blob_store(source, services.settings, "--from ") if source else services.images.blobs
        target = open_blob_store(to, services.settings, "--to ")
    except SentinelError as exc:
        raise fail(exc.message) from exc
    try:
        target.check()
        err.print(f"copying from {origin.describe()} to {target.describe()}")
        with counting("copying") as progress:
            task = progress.add_task("migrate")
            report = maintenance.migrate(origin, target, progress=lambda n: progress.advance(task, n))
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    for sha256, reason in report.failed.items():
        err.print(f"[red]not copied[/] {sha256}: {escape(reason)}", highlight=False)
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
