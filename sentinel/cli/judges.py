"""`sentinel judges`: the panel, and one judge tried on one image with its raw exchange."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sentinel.cli.common import fail, out, parse_params, read_image
from sentinel.errors import SentinelError

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer(help="The judge panel: list it, try one judge on an image.", no_args_is_help=True)


@app.command("list")
def judges_list() -> None:
    """The panel (SENTINEL_JUDGES_DIR or the built-in judges/)."""
    from sentinel.wiring import get_services

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


@app.command("test")
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
    from sentinel.wiring import get_services

    try:
        services = get_services()
        limit = services.settings.max_image_bytes
        extra = {name: read_image(path, name, limit) for name, path in (("source", source), ("mask", mask)) if path}
        vote, transcript = try_judge(
            services, judge, task, parse_params(param or []), read_image(image, "image", limit), extra
        )
    except SentinelError as exc:
        raise fail(exc.message) from exc
    for number, exchange in enumerate(transcript, start=1):
        out.rule(f"request {number}", style="dim")
        out.print_json(json.dumps(exchange.request, ensure_ascii=False))
        status = exchange.status if exchange.status is not None else "no answer"
        out.rule(f"reply {number} ({status})", style="dim")
        if exchange.error:
            out.print(f"[yellow]{escape(exchange.error)}[/]", highlight=False, soft_wrap=True)
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
