"""`sentinel keys`: create, list and revoke API keys."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sentinel.cli.common import err, fail, out
from sentinel.errors import SentinelError

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer(help="API keys: create (the secret is shown once), list, revoke.", no_args_is_help=True)


def _key_service() -> Any:
    from sentinel.keys.service import KeyService
    from sentinel.services import DatabaseOnly
    from sentinel.settings import get_settings

    # Keys are rows: the judges, rubrics and blob store that get_services() builds first are not needed.
    return KeyService(DatabaseOnly(get_settings()))


@app.command("create")
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
        f"created key [bold]{escape(key.name)}[/] ({key.id}; tenant {escape(key.tenant)}; "
        f"scopes {', '.join(key.scopes)}{cap}). ",
        end="",
    )
    err.print("The secret is shown once: store it now.", style="bold yellow")
    if tenant is None and set(key.scopes) == {"review"}:
        # Without --tenant a key is a tenant of its own, and a review-only key makes no jobs or evaluations: its
        # review queue would stay empty for ever, and another tenant's items answer it 404.
        err.print(
            "warning: a review-only key without --tenant is a tenant of its own, whose review queue stays empty (it "
            "makes no jobs or evaluations); create it with --tenant <the tenant whose amber items it reviews> "
            "(`sentinel keys list` shows tenants), or with the admin scope to review every tenant's queue",
            style="yellow",
            soft_wrap=True,
            highlight=False,
        )
    sys.stdout.write(token + "\n")


@app.command("list")
def keys_list() -> None:
    """Every key, without secrets."""
    try:
        keys = _key_service().list()
    except SentinelError as exc:
        raise fail(exc.message) from exc
    table = Table(box=None)
    # Ids, names and tenants are what people copy into `--tenant` and `keys revoke`: never cut to 'key_ab…',
    # not even piped or in CI, where the console is 80 columns wide; the other columns give way instead.
    whole = {
        "id": [key.id for key in keys],
        "name": [key.name for key in keys],
        "tenant": [key.tenant or key.id for key in keys],
    }
    for column in ("id", "name", "tenant", "prefix", "scopes", "spend cap", "rpm", "created", "state"):
        if column in whole:
            table.add_column(column, no_wrap=True, min_width=max(map(len, whole[column]), default=len(column)))
        else:
            table.add_column(column)
    for key in keys:
        cap = f"${key.spend_cap:g}/{key.spend_period}" if key.spend_cap else ""
        state = "[red]revoked[/]" if key.revoked_at else "active"
        created = key.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(
            key.id,
            escape(key.name),
            escape(key.tenant or key.id),
            key.prefix + "…",
            ", ".join(key.scopes),
            cap,
            str(key.rpm or ""),
            created,
            state,
        )
    # Piped (`| grep`, a CI log) nothing wraps: one line per key at the table's natural width (print's own
    # width is capped at the console's 80 columns there, so the table gets a console of its width).
    if out.is_terminal:
        out.print(table)
    else:
        natural = out.measure(table, options=out.options.update_width(1000)).maximum
        Console(file=out.file, width=max(out.width, natural)).print(table)


@app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="the key's id or name")]) -> None:
    """Revoke a key: refused from then on (API processes notice within 10 s)."""
    try:
        revoked = _key_service().revoke(key)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    err.print(f"revoked {escape(revoked.name)} ({revoked.id})", highlight=False)
