"""`sentinel eval`: judge images (files, folders, globs or a manifest) in-process or on a server, and write the
reports CI reads: JSON Lines, JUnit XML and an HTML page. The exit code gates a pipeline (``--fail-on``)."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sentinel.cli.common import (
    VERDICT_STYLE,
    check_report_paths,
    err,
    fail,
    out,
    parse_params,
    prepare_output,
)
from sentinel.cli.eval_inputs import (
    IMAGE_SUFFIXES,
    OTHER_IMAGE_SUFFIXES,
    Defaults,
    Item,
    UsageError,
    from_arguments,
    from_manifest,
)
from sentinel.reports import FailOn, Outcome, counts, document_of, fails

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading the judges (numpy, OCR) or httpx first.


#: Below this many columns the vote is printed a criterion a block, not as a table: six columns in 80 left the
#: detail a dozen characters wide, a word a line.
TABLE_MIN_COLUMNS = 110


def _print_detail(outcome: Outcome) -> None:
    """One image's full vote: every judge and criterion (what a single `sentinel eval IMAGE` shows)."""
    from rich.table import Table

    _print_line(outcome)
    if out.width < TABLE_MIN_COLUMNS:
        _print_detail_stacked(outcome)
        return
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("judge", "criterion", "result"):
        table.add_column(column, no_wrap=True)
    for column in ("measured", "threshold", "detail"):
        table.add_column(column, overflow="fold")
    for judge in outcome.document.get("judges") or []:
        if judge["passed"] is None:
            table.add_row(judge["judge"], "—", "[yellow]abstained[/]", "", "", escape(judge["reasoning"]))
            continue
        for criterion in judge["criteria"]:
            severity = criterion.get("severity")
            mark = "[green]pass[/]" if criterion["passed"] else f"[red]FAIL[/]{f' {severity}' if severity else ''}"
            table.add_row(
                judge["judge"],
                criterion["id"] + (" [dim](critical)[/]" if criterion.get("critical") else ""),
                mark,
                "" if criterion.get("measured") is None else escape(str(criterion["measured"])),
                "" if criterion.get("threshold") is None else escape(str(criterion["threshold"])),
                escape(criterion.get("detail") or ""),
            )
    out.print(table)
    out.print()


def _print_detail_stacked(outcome: Outcome) -> None:
    """The vote for a narrow terminal: each criterion on a line (judge, criterion, result, measured against the
    threshold), its detail indented below it at the terminal's full width."""
    from rich.padding import Padding

    for judge in outcome.document.get("judges") or []:
        if judge["passed"] is None:
            out.print(f"{escape(judge['judge'])}  [yellow]abstained[/]", highlight=False)
            out.print(Padding(escape(judge["reasoning"]), (0, 0, 0, 4), expand=False), highlight=False)
            continue
        for criterion in judge["criteria"]:
            severity = criterion.get("severity")
            mark = "[green]pass[/]" if criterion["passed"] else f"[red]FAIL[/]{f' {severity}' if severity else ''}"
            critical = " [dim](critical)[/]" if criterion.get("critical") else ""
            measured, threshold = criterion.get("measured"), criterion.get("threshold")
            figures = "" if measured is None else f"  measured {escape(str(measured))}"
            figures += "" if threshold is None else f" [dim](threshold {escape(str(threshold))})[/]"
            named = f"{escape(judge['judge'])}  {escape(criterion['id'])}{critical}"
            out.print(f"{named}  {mark}{figures}", highlight=False)
            if criterion.get("detail"):
                out.print(Padding(escape(criterion["detail"]), (0, 0, 0, 4), expand=False), highlight=False)
    out.print()


def _print_line(outcome: Outcome) -> None:
    """The verdict of one image of a batch, and each failing criterion on a line of its own."""
    verdict, name, task = str(outcome.verdict), escape(outcome.name), escape(str(outcome.task))
    out.print(f"[{VERDICT_STYLE[verdict]}]{verdict.upper()}[/]  {name}  [dim]({task})[/]", highlight=False)
    out.print(f"  {escape(outcome.summary)}", highlight=False, soft_wrap=True)


def _print_summary(outcomes: list[Outcome], seconds: float) -> None:
    from rich.table import Table

    tally = counts(outcomes)
    shown = ", ".join(f"{tally[v]} {v}" for v in ("green", "amber", "red") if tally[v])
    if tally["error"]:
        shown += f"{', ' if shown else ''}{tally['error']} not judged"
    table = Table(title=f"{len(outcomes)} images in {seconds:.1f} s: {shown}", box=None, title_justify="left")
    for column in ("image", "verdict", "summary"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        if outcome.judged:
            verdict = str(outcome.verdict)
            table.add_row(escape(outcome.name), f"[{VERDICT_STYLE[verdict]}]{verdict}[/]", escape(outcome.summary))
        else:
            table.add_row(escape(outcome.name), "[bold magenta]error[/]", escape(outcome.error or ""))
    out.print(table)


def _write(path: Path, text: str, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{what} {path}: {exc.strerror or exc}", code=2) from exc


def eval_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="image files, folders (searched for png/jpg/jpeg/webp/gif) or glob patterns", show_default=False
        ),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="task id (see `sentinel rubrics list`) for images without one")
    ] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="task param key=value (repeatable)")] = None,
    source: Annotated[Path | None, typer.Option(help="edit tasks: the image before the edit")] = None,
    mask: Annotated[Path | None, typer.Option(help="edit tasks: mask, white marks the region")] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(help="CSV (with a header) or JSONL of image, task, params, source, mask; paths relative to it"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print JSON Lines (one object per image) instead of tables")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write JSON Lines to this file")] = None,
    junit: Annotated[Path | None, typer.Option(help="write a JUnit XML report (one test case per image)")] = None,
    html: Annotated[Path | None, typer.Option(help="write a self-contained HTML report with thumbnails")] = None,
    fail_on: Annotated[
        str, typer.Option(help="exit 1 when an image is this verdict or worse: red, amber or never")
    ] = "red",
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=64, help="images judged at once (default: CPU count)")
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="judge on this Sentinel server (http://host:port) instead of in-process")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="SENTINEL_API_KEY", help="the server's API key", show_default=False)
    ] = None,
) -> None:
    """Judge images with the panel and write the reports CI reads. Exit 0 when every image is judged and none is
    at or past --fail-on (default red), 1 when one is or an input could not be judged, 2 for a wrong command."""
    # Start-up (imports, rubrics, the OCR models) makes a few hundred thousand objects and no garbage; the cyclic
    # collector walking them over and over is a tenth of a one-image eval. It waits for the first verdict (see
    # _judge), which freezes them out of its way, and is back on however the command ends (it may run inside
    # another program, as in tests).
    gc.disable()
    ctx.call_on_close(gc.enable)
    if fail_on not in ("red", "amber", "never"):
        raise fail(f"--fail-on takes red, amber or never, not {fail_on!r}")
    gate: FailOn = fail_on  # type: ignore[assignment]  (checked just above)
    if server is not None and not server.startswith(("http://", "https://")):
        raise fail(f"--server takes an http(s):// URL, not {server!r}")
    if not inputs and manifest is None:
        raise fail("give image files, folders or globs, or --manifest FILE")
    if inputs and manifest is not None:
        raise fail("give either images or --manifest, not both")
    if manifest is None and task is None:
        raise fail("--task is required (see `sentinel rubrics list`), unless a --manifest gives each image's task")
    defaults = Defaults(task, parse_params(param or []), source, mask)
    try:
        items = from_manifest(manifest, defaults) if manifest is not None else from_arguments(inputs or [], defaults)
    except UsageError as exc:
        raise fail(str(exc)) from exc
    if not items:
        raise fail(f"--manifest {manifest} lists no images")
    judged_files = [manifest, *(p for item in items for p in (item.image, item.source, item.mask))]
    reports = {"--output": output, "--junit": junit, "--html": html}
    check_report_paths(reports, judged_files, {*IMAGE_SUFFIXES, *OTHER_IMAGE_SUFFIXES})
    for path, option in ((output, "--output"), (junit, "--junit"), (html, "--html")):
        prepare_output(path, option)
    outcomes, interrupted = _judge(
        items,
        concurrency or os.cpu_count() or 1,
        server,
        api_key,
        as_json,
        html is not None,
        shared=manifest is None,
    )
    if output is not None:
        from sentinel.reports import jsonl

        _write(output, jsonl.render(outcomes), "--output")
    # A stopped run's JUnit and HTML reports end with an error case for the images never judged: read alone (a CI
    # step that publishes them always), they would otherwise show a clean pass for a gate that did not run.
    shown = outcomes
    if interrupted and len(outcomes) < len(items):
        shown = [*outcomes, _not_judged(len(items) - len(outcomes), len(items))]
    if junit is not None:
        from sentinel.reports import junit as junit_report

        _write(junit, junit_report.render(shown, gate), "--junit")
    if html is not None:
        from sentinel.reports import html as html_report

        _write(html, html_report.render(shown, gate, title=f"sentinel eval: {len(outcomes)} images"), "--html")
    if interrupted:
        written = " (the reports hold those)" if output or junit or html else ""
        err.print(f"[bold]interrupted[/] after {len(outcomes)} of {len(items)} images{written}", highlight=False)
        raise typer.Exit(code=130)
    _exit(outcomes, gate)


def _not_judged(missing: int, total: int) -> Outcome:
    """The report entry standing for the images an interrupt left unjudged."""
    return Outcome(
        name="(interrupted)",
        task=None,
        error=f"interrupted: {missing} of {total} images not judged; this report is partial",
    )


def _judge(
    items: list[Item],
    concurrency: int,
    server: str | None,
    api_key: str | None,
    as_json: bool,
    thumbnails: bool,
    shared: bool,
) -> tuple[list[Outcome], bool]:
    """Every item's outcome, and whether Ctrl-C (SIGINT) stopped the run first: then only the outcomes so far, the
    images not started dropped, so the reports can still be written for what was judged."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sentinel.cli.eval_run import SetupProblem, judge_locally, judge_on_server
    from sentinel.reports.jsonl import line

    started = time.perf_counter()
    single = len(items) == 1
    outcomes: list[Outcome] = []
    progress = Progress(
        TextColumn("judging"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
        # Results drawn above the bar only when they go to the same terminal: piped, stdout stays stdout.
        redirect_stdout=out.is_terminal,
        redirect_stderr=False,
    )
    interrupted = False
    results: Generator[Outcome, None, None] | None = None
    try:
        with progress:
            bar = progress.add_task("", total=len(items))
            if server is not None:
                results = judge_on_server(items, server, api_key, concurrency, thumbnails, shared)
            else:
                results = judge_locally(items, concurrency, thumbnails, shared)
            for outcome in results:
                if not outcomes:
                    gc.freeze()  # what start-up made stays: later collections skip it
                    gc.enable()
                outcomes.append(outcome)
                progress.update(bar, advance=1, description=outcome.name)
                if not outcome.judged:
                    message = f"{outcome.name}: {outcome.error}"
                    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
                if as_json:
                    sys.stdout.write(line(document_of(outcome)))
                    sys.stdout.flush()
                elif outcome.judged:
                    (_print_detail if single else _print_line)(outcome)
    except SetupProblem as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if results is not None:
            results.close()  # the images not started yet are dropped now, not when the generator is collected
    if not as_json and not single:
        _print_summary(outcomes, time.perf_counter() - started)
    return outcomes, interrupted


def _exit(outcomes: list[Outcome], gate: FailOn) -> None:
    # The process ends next: its final collection would walk every object only for the OS to free them anyway.
    gc.freeze()
    if gate == "never":
        return
    failing = [o for o in outcomes if o.judged and fails(o.verdict, gate)]
    unjudged = [o for o in outcomes if not o.judged]
    reasons = []
    if failing:
        worse = "" if gate == "red" else " or worse"
        reasons.append(f"{len(failing)} of {len(outcomes)} image{'s' if len(outcomes) != 1 else ''} {gate}{worse}")
    if unjudged:
        reasons.append(f"{len(unjudged)} could not be judged")
    if reasons:
        err.print(f"[bold]failing (--fail-on {gate}):[/] {'; '.join(reasons)}", highlight=False)
        raise typer.Exit(code=1)
