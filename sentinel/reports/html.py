"""A self-contained HTML page of a batch: a thumbnail, the verdict and the failing criteria of each image, a
summary, and filters by verdict and task that work from a file (no server, no network: images are data URIs,
styles and the small filter script are inline). Everything shown is escaped by jinja2's autoescape."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from sentinel.reports import FailOn, Outcome, counts, fails

_TEMPLATES = Path(__file__).parent / "templates"

#: Longest side of a thumbnail in pixels: big enough to see the defect a failing criterion names.
THUMBNAIL_SIDE = 240


def thumbnail_data_uri(data: bytes, side: int = THUMBNAIL_SIDE) -> str | None:
    """The image scaled down to ``side`` pixels at most, as a JPEG ``data:`` URI (PNG when it has transparency);
    None when Pillow cannot read it. Call it only on images already checked for size (decompression bombs)."""
    from PIL import Image  # here, not at the top: only a page with thumbnails needs Pillow

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (side, side))  # JPEG: decode at a fraction of the size, much faster
            image.thumbnail((side, side))
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else "RGB")
            buffer = io.BytesIO()
            image.save(buffer, "PNG" if has_alpha else "JPEG", quality=80)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    mime = "image/png" if has_alpha else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    outcomes: list[Outcome],
    fail_on: FailOn = "red",
    title: str = "sentinel eval",
    generated_at: datetime | None = None,
) -> str:
    rows = [
        {
            "outcome": outcome,
            "state": outcome.verdict if outcome.judged else "error",
            "gated": outcome.judged and fails(outcome.verdict, fail_on),
        }
        for outcome in outcomes
    ]
    tasks = sorted({outcome.task or "unknown-task" for outcome in outcomes})
    return (
        _environment()
        .get_template("batch.html.j2")
        .render(
            title=title,
            rows=rows,
            tasks=tasks,
            tally=counts(outcomes),
            total=len(outcomes),
            fail_on=fail_on,
            generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
    )
