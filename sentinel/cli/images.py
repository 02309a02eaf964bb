"""The two jobs from a terminal: `generate` through the router, `eval` with the judge panel in-process."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sentinel.cli.common import VERDICT_STYLE, err, fail, out, parse_params, read_image
from sentinel.errors import SentinelError

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer()


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
    from sentinel.wiring import get_services

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
    from sentinel.wiring import get_services

    try:
        services = get_services()
        settings = services.settings
        params = parse_params(param or [])
        extra = {
            name: read_image(path, name, settings.max_image_bytes)
            for name, path in (("source", source), ("mask", mask))
            if path is not None
        }
        inputs = [(path, read_image(path, "image", settings.max_image_bytes)) for path in images]
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
