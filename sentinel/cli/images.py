"""The two jobs from a terminal: `generate` through the router, `eval` with the judge panel (``eval_batch.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sentinel.cli import eval_batch
from sentinel.cli.common import err, fail, out
from sentinel.errors import SentinelError

# Each command imports what it runs inside its function, on purpose: `sentinel --help` and a mistyped option
# answer at once instead of loading FastAPI, SQLAlchemy and the judges first.

app = typer.Typer()


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

    # The folder first: a provider may charge for the images, which must not be made only to be lost.
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--out {out_dir}: cannot make this folder ({exc.strerror or exc})") from exc

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
            err.print(f"[red]image {index + 1} failed:[/] {escape(reason)}", highlight=False, soft_wrap=True)
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


# `sentinel eval` (batches, manifests, reports, --fail-on) has a module of its own; registered here so that
# `sentinel --help` lists it right after `generate`.
app.command("eval")(eval_batch.eval_command)
