"""The `sentinel bench` commands that measure verdicts: accuracy, legible signs, regeneration (see `bench.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sentinel.cli.common import counting, err, out, steps

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.


def bench_accuracy(
    cases: Annotated[Path | None, typer.Option(help="labelled cases (default fixtures/cases.yaml)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="cases judged at once (default: cores)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """The panel against labelled cases; exit 1 if a severe defect is not red or a clean image is red."""
    from sentinel.bench.accuracy import DEFAULT_CASES, KINDS, SEVERITIES, load_cases, run

    cases = cases or DEFAULT_CASES
    with counting("judging cases", total=len(load_cases(cases))) as bar:
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
                miss["id"],
                miss["kind"],
                miss["severity"],
                "/".join(miss["accepted"]),
                miss["verdict"],
                escape(miss["summary"]),
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


def bench_signs(
    phrase: Annotated[
        list[str] | None, typer.Option(help="a phrase to render (repeatable; default: 12 phrases)")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="seeds per phrase")] = 6,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Signs drawn by the local renderer that a plain OCR pass reads: how many the panel calls green."""
    from sentinel.bench.signs import PHRASES, run

    with steps("bench signs") as step:
        report = run(tuple(phrase or PHRASES), tuple(range(1, seeds + 1)), progress=step)
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


def bench_regenerate(
    jobs: Annotated[int, typer.Option(min=1, max=100, help="jobs per scenario")] = 6,
    max_attempts: Annotated[int, typer.Option(min=1, max=10, help="each job's max_attempts")] = 3,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="jobs in flight at once")] = 4,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results to this file")] = None,
) -> None:
    """Whether regeneration converges: jobs whose first image has a fixable defect, and controls, on `local`."""
    from sentinel.bench.regenerate import run

    with steps("bench regenerate") as step:
        report = run(jobs, max_attempts, concurrency, progress=step)
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
            console.print(
                f"[yellow]not green[/] {row['scenario']}: {job['id']} {job['verdict']}: {escape(summary)}",
                highlight=False,
            )
    if json_out:
        json_out.write_text(json.dumps(report, indent=2) + "\n")
