"""Looking after a deployment: `doctor` checks it, `migrate` brings its database schema up to date."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sentinel.cli.common import err, fail, out
from sentinel.errors import SentinelError

if TYPE_CHECKING:
    from sentinel.providers.listing import CandidateCheck

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer()


#: How each state of a candidate's model is shown.
MODEL_STATE_MARKS = {
    "listed": "[green]listed[/]",
    "missing": "[bold red]MISSING[/]",
    "deprecated": "[yellow]deprecated[/]",
    "not checkable": "[dim]not checkable[/]",
    "not configured": "[dim]not configured[/]",
    "unknown": "[yellow]unknown[/]",
}


def provider_models_table(checks: list[CandidateCheck]) -> Table:
    """One row per candidate: what its provider's model listing says of it, and the routes it serves."""
    table = Table(box=None)
    table.add_column("candidate", no_wrap=True)
    table.add_column("routes", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(
            check.target,
            ", ".join(check.routes),
            MODEL_STATE_MARKS[check.state.value],
            escape(check.detail),
            style=None,
        )
    return table


def provider_model_checks() -> list[CandidateCheck]:
    """Every candidate of the routing file with what its provider's model listing says of it; exits 2 when the
    settings or the routing file are broken."""
    from sentinel.ops.doctor import provider_models
    from sentinel.settings import Settings

    try:
        return provider_models(Settings())
    except ValueError as exc:
        raise fail(f"settings: {exc}") from exc
    except SentinelError as exc:
        raise fail(exc.message) from exc


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="print the checks as JSON")] = False,
    providers: Annotated[
        bool,
        typer.Option(
            "--providers",
            help="ask each configured provider's model listing whether every candidate of the routing file exists; "
            "exit 1 if one is missing",
        ),
    ] = False,
) -> None:
    """Check this deployment's configuration and connectivity, and say what is wrong. Exit 1 if a check fails."""
    if providers:
        _doctor_providers(as_json)
        return
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
            table.add_row(result.name, marks[result.status], escape(result.detail), escape(result.hint), style=None)
        Console(width=max(out.width, 140)).print(table, highlight=False)
        failed = sum(not r.ok for r in results)
        warned = sum(r.status == "warn" for r in results)
        summary = f"{failed} failed, {warned} warnings, {len(results) - failed - warned} ok"
        out.print(f"[bold red]{summary}[/]" if failed else f"[green]{summary}[/]", highlight=False)
    if any(not r.ok for r in results):
        raise typer.Exit(code=1)


def _doctor_providers(as_json: bool) -> None:
    checks = provider_model_checks()
    if as_json:
        sys.stdout.write(json.dumps([c.to_dict() for c in checks], ensure_ascii=False) + "\n")
    else:
        Console(width=max(out.width, 140)).print(provider_models_table(checks), highlight=False)
        missing = sum(c.missing for c in checks)
        unknown = sum(c.state == "unknown" for c in checks)
        summary = f"{missing} missing, {unknown} not known, {len(checks)} candidates"
        out.print(f"[bold red]{summary}[/]" if missing else f"[green]{summary}[/]", highlight=False)
    if any(c.missing for c in checks):
        raise typer.Exit(code=1)


@app.command()
def migrate(
    sql: Annotated[bool, typer.Option("--sql", help="print the SQL instead of running it")] = False,
) -> None:
    """Bring the database (SQLite or PostgreSQL) to the newest schema. Safe to run again."""
    from sentinel.db import private_sqlite_file
    from sentinel.db.migrate import head, upgrade, upgrade_sql
    from sentinel.ops.health import redact_url
    from sentinel.settings import Settings
    from sentinel.telemetry.logging import log_to_stderr

    try:
        settings = Settings()
    except ValueError as exc:
        raise fail(f"settings: {exc}") from exc
    url = settings.resolved_database_url
    if sql and not url.startswith("postgresql"):
        # A batch revision on SQLite reads the table it copies, so its SQL cannot be written in advance.
        raise fail("--sql is for PostgreSQL; `sentinel migrate` (or any start) upgrades a SQLite file in place")
    if sql:
        upgrade_sql(url)
        return
    log_to_stderr("alembic", settings.log_format)  # "Running upgrade 0001 -> 0002, …"
    private_sqlite_file(url)
    try:
        at = upgrade(url)
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    except Exception as exc:
        raise fail(f"{redact_url(url)}: {exc}", code=1) from exc
    err.print(f"{redact_url(url)}: at revision {at} (head {head()})", highlight=False, soft_wrap=True)
