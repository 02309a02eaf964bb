"""`sentinel compare SUITE.yaml`: prompts × models through generate-and-judge, ranked, as a table, JSON and HTML."""

from __future__ import annotations

import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sentinel.cli.common import check_report_paths, err, fail, out, prepare_output

if TYPE_CHECKING:
    from rich.table import Table

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer()


def _secs(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f}"


def _check_on_server(suite: Any, suite_file: Path, server: str | None, headers: dict[str, str]) -> dict[str, str]:
    """What the run checks before its first job (the task, each prompt's params, the models), without running any:
    a mistake is the file's line and field, exit 2. Returns the models whose jobs would not be sent, and why."""
    import httpx

    from sentinel.compare.runner import KeyRefused, Sentinel, SuiteProblem, in_process
    from sentinel.yamlfile import read_yaml

    try:
        with (
            in_process() if server is None else nullcontext(server.rstrip("/")) as base,
            httpx.Client(base_url=base, headers=headers, timeout=60) as client,
        ):
            return Sentinel(client).check(suite).unservable
    except SuiteProblem as exc:
        raise fail(read_yaml(suite_file).error(exc.loc, exc.message).message) from exc
    except KeyRefused as exc:
        raise fail(f"{server or 'in-process API'}: {exc}") from exc
    except (RuntimeError, httpx.HTTPError) as exc:
        raise fail(f"{server or 'in-process API'}: {exc}", code=1) from exc


def _table(report: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(
        title=f"{report['suite']}: {report['task']}, {len(report['prompts'])} prompts × {report['repeats']} "
        f"run(s), at most {report['max_attempts']} attempts ({report['seconds']:.1f} s)",
        box=None,
    )
    columns = ("#", "model", "green", "amber", "red", "no image", "1st-try green", "attempts/green", "cost $")
    for column in (*columns, "p50 s", "p95 s"):
        table.add_column(column, no_wrap=True, justify="left" if column == "model" else "right")

    def mix(row: dict[str, Any], verdict: str, style: str) -> str:
        return f"[{style}]{row[verdict]}[/] ({row[f'{verdict}_share']:.0%})"

    for row in report["models"]:
        table.add_row(
            str(row["rank"]),
            row["model"],
            mix(row, "green", "green"),
            mix(row, "amber", "yellow"),
            mix(row, "red", "red"),
            str(row["failed"] + row["errors"]),
            f"{row['first_attempt_green_share']:.0%}",
            "–" if row["attempts_per_green"] is None else f"{row['attempts_per_green']:.2f}",
            f"{row['cost_usd']:.4f}",
            _secs(row["latency_p50_ms"]),
            _secs(row["latency_p95_ms"]),
        )
    return table


def no_image_reasons(report: dict[str, Any]) -> list[str]:
    """Per model that ran jobs without an image, why (each distinct reason once, most frequent first): the table
    counts them, and a count alone does not say that a provider's key is missing."""
    lines = []
    for row in report["models"]:
        reasons: dict[str, int] = {}
        for run in report["runs"]:
            if run["model"] == row["model"] and run["verdict"] is None and not run["error"]:
                reason = run["summary"] or "no reason was recorded"
                reasons[reason] = reasons.get(reason, 0) + 1
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            lines.append(f"{row['model']}: {count} with no image: {reason}")
    return lines


@app.command()
def compare(
    suite_file: Annotated[Path, typer.Argument(metavar="SUITE.yaml", help="task, models, prompts (see README)")],
    server: Annotated[
        str | None, typer.Option(help="a running Sentinel (http://host:port); default: this installation, in-process")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="SENTINEL_API_KEY", help="API key (snt_…) when the server needs one")
    ] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="write the HTML matrix (images inlined) here")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the results as JSON here ('-': stdout)")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=64, help="jobs in flight at once (default: the suite's)")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="only validate the suite file; run nothing")] = False,
) -> None:
    """Run every prompt of a suite on every model (ordinary jobs: generated, judged, red ones regenerated) and rank
    the models by verdict mix, first-attempt green share, attempts per green, cost and latency. Exit 0 when every
    job ran (whatever its verdict), 1 when some could not run, 2 for a bad suite."""
    from sentinel.compare.suite import load_suite
    from sentinel.errors import SentinelError

    try:
        suite = load_suite(suite_file)
    except SentinelError as exc:
        raise fail(exc.message) from exc
    if server is not None and not server.startswith(("http://", "https://")):
        raise fail(f"--server takes an http(s):// URL, got {server!r}")
    runs = len(suite.runs())
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if check:
        unservable = _check_on_server(suite, suite_file, server, headers)
        shape = f"{len(suite.models)} models × {len(suite.prompts)} prompts × {suite.rounds} run(s)"
        where = server or "this installation"
        out.print(f"{suite_file}: valid, {runs} jobs ({shape}) on {where}", highlight=False, soft_wrap=True)
        for model, why in unservable.items():
            # Valid, but these columns would stay empty: said now, not after the run.
            err.print(f"{model}: its jobs will not run here: {why}", highlight=False, soft_wrap=True)
        return
    check_report_paths({"--json": json_out, "--html": html_out}, [suite_file])
    prepare_output(json_out, "--json")
    prepare_output(html_out, "--html")
    import httpx
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sentinel.compare.report import document, html
    from sentinel.compare.runner import KeyRefused, Outcome, Sentinel, SuiteProblem, in_process, run_suite
    from sentinel.compare.summary import rank
    from sentinel.yamlfile import read_yaml

    started = time.perf_counter()
    progress = Progress(
        TextColumn("comparing"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} jobs"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    finished: list[Outcome] = []

    def done(outcome: Outcome) -> None:
        finished.append(outcome)
        progress.advance(bar)

    interrupted = False
    try:
        with (
            in_process() if server is None else nullcontext(server.rstrip("/")) as base,
            httpx.Client(base_url=base, headers=headers, timeout=120) as client,
            progress,
        ):
            bar = progress.add_task("jobs", total=runs)
            workers = concurrency or suite.concurrency
            outcomes = run_suite(Sentinel(client), suite, workers, done)
    except KeyboardInterrupt:
        # The reports are written for the jobs that finished; those sent and unfinished stay recorded.
        outcomes, interrupted = list(finished), True
    except SuiteProblem as exc:
        raise fail(read_yaml(suite_file).error(exc.loc, exc.message).message) from exc
    except SentinelError as exc:
        raise fail(exc.message, code=1) from exc
    except KeyRefused as exc:
        raise fail(f"{server or 'in-process API'}: {exc}") from exc
    except (RuntimeError, httpx.HTTPError) as exc:
        raise fail(f"{server or 'in-process API'}: {exc}", code=1) from exc
    where = server or "this installation (in-process)"
    seconds = time.perf_counter() - started
    report = document(suite, suite.name or suite_file.stem, where, rank(suite.models, outcomes), outcomes, seconds)
    if json_out == Path("-"):
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        # Wide enough for every column when piped (a pipe reads as 80 columns).
        Console(width=max(out.width, 160)).print(_table(report))
        for line in no_image_reasons(report):
            err.print(f"[yellow]{escape(line)}[/]", highlight=False, soft_wrap=True)
        if json_out:
            json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if html_out:
        html_out.write_text(html(report, outcomes), encoding="utf-8")
        err.print(f"HTML matrix: {html_out}", highlight=False)
    if interrupted:
        raise fail(
            f"interrupted after {len(outcomes)} of {runs} jobs (the reports hold those); the jobs already sent stay "
            "recorded",
            code=130,
        )
    errors = [o for o in outcomes if o.error]
    for outcome in errors[:5]:
        where_ = f"{outcome.run.model} on prompt {outcome.run.case.index + 1}"
        err.print(f"[red]{escape(where_)}:[/] {escape(outcome.error)}", highlight=False, soft_wrap=True)
    if errors:
        err.print(f"[red]{len(errors)} of {runs} jobs could not run[/]", highlight=False)
        raise typer.Exit(code=1)
