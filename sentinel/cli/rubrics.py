"""`sentinel rubrics`: the tasks, their criteria, the offline checks, and validating rubric files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sentinel.cli.common import err, fail, out
from sentinel.errors import SentinelError

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer(help="List, show and validate task rubrics.", no_args_is_help=True)


@app.command("list")
def rubrics_list() -> None:
    """The tasks Sentinel knows (built-in and SENTINEL_RUBRICS_DIR)."""
    from sentinel.wiring import get_services

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
        table.add_row(rubric.id, escape(rubric.title), ", ".join(rubric.inputs), params, str(len(rubric.criteria)))
    out.print(table)
    out.print("[dim]* required param[/]")


#: The task policies, as `rubrics show` says them.
RED_WHEN_WORDS = {
    "any_severe": "one severe failure (a critical criterion's failure is severe)",
    "any_moderate": "one moderate or severe failure",
    "any_failed": "any failure",
}


@app.command("show")
def rubrics_show(task: Annotated[str, typer.Argument(help="task id")]) -> None:
    """A task's params and criteria."""
    from sentinel.wiring import get_services

    try:
        rubric = get_services().rubrics.get(task)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    out.print(f"[bold]{rubric.id}[/] — {escape(rubric.title)}\n{escape(rubric.description)}\n", highlight=False)
    out.print(f"inputs: {', '.join(rubric.inputs)}")
    for name, spec in rubric.params.items():
        flag = "required" if spec.required else "optional"
        out.print(f"param [bold]{name}[/] ({spec.type}, {flag}): {escape(spec.description)}", highlight=False)
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
            escape(c.must + (f" — {c.ask}" if c.ask else "")),
            escape(" ".join((c.fix or "").split())),
        )
    Console(width=max(out.width, 160)).print(table)


@app.command("checks")
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


@app.command("validate")
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
            err.print(f"[red]✗[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
            continue
        out.print(
            f"[green]✓[/] {escape(str(file))}: task '{rubric.id}', {len(rubric.criteria)} criteria", highlight=False
        )
    if problems:
        raise typer.Exit(code=2)
