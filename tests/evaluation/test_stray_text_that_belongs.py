"""Text that belongs in the picture is not stray text: a product's own printed label on a product shot, and the
words a text-to-image prompt asks for ('a shop sign that says "OPEN 24/7"'). Real watermarks still fail: text on
the white background, a mark across the product's edge, a faint overlay, a bold mark laid over a varied product.
The regeneration guidance never contradicts the caller (no "no text anywhere" for a sign, no "no labels" for a
product), and a text holding quotes or line breaks is quoted so that where it ends, and where its lines break,
stays plain. Images are drawn with DejaVu Sans Bold."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from sentinel.evaluation.guidance import fixes_for, join_guidance, regeneration_prompt
from sentinel.evaluation.local import evaluate_files
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import get_settings
from sentinel.wiring import get_services

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
BUILTIN = RubricRegistry.from_dirs(get_settings().builtin_rubrics_dir)


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def stray_text(image: bytes, task: str, **params: Any) -> dict[str, Any]:
    """The no-stray-text criterion of the task's rubric, as ``sentinel eval`` judges the image."""
    [(_, document)] = list(evaluate_files(get_services(), task, params, [(Path("image.png"), image)], {}))
    for judge in document["judges"]:
        for result in judge.get("criteria", []):
            if result["id"] == "no-stray-text":
                return result
    raise AssertionError(f"no no-stray-text criterion in {document['summary']}")


def write(draw: ImageDraw.ImageDraw, centre: tuple[int, int], words: str, size: int, fill: Any) -> None:
    draw.text(centre, words, font=ImageFont.truetype(BOLD, size), fill=fill, anchor="mm")


def bottle(label: str = "", size: int = 70, white_print: str = "") -> Image.Image:
    """A green bottle on a pure white 1200² background, with a cream label band printed in dark ink, or white
    letters printed straight on the glass."""
    picture = Image.new("RGB", (1200, 1200), "white")
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((336, 260, 864, 1130), radius=60, fill=(30, 110, 60))
    draw.rectangle((530, 90, 670, 280), fill=(30, 110, 60))
    if label:
        draw.rectangle((336, 560, 864, 780), fill=(240, 232, 205))
        write(draw, (600, 670), label, size, (25, 25, 35))
    if white_print:
        write(draw, (600, 670), white_print, size, (255, 255, 255))
    return picture


def cereal_box() -> Image.Image:
    picture = Image.new("RGB", (1200, 1200), "white")
    draw = ImageDraw.Draw(picture)
    draw.rectangle((300, 120, 900, 1100), fill=(200, 40, 30))
    write(draw, (600, 300), "CORN", 90, (250, 210, 40))
    write(draw, (600, 410), "FLAKES", 90, (250, 210, 40))
    return picture


@pytest.mark.parametrize(
    "picture",
    [
        pytest.param(lambda: bottle("AQUA", 40), id="label-40px"),
        pytest.param(lambda: bottle("AQUA", 70), id="label-70px"),
        pytest.param(lambda: bottle("AQUA", 110), id="label-110px"),
        pytest.param(lambda: bottle("OLIVE OIL", 60), id="label-two-words"),
        pytest.param(lambda: bottle(white_print="AQUA"), id="white-print-on-glass"),
        pytest.param(cereal_box, id="cereal-box"),
    ],
)
def test_a_products_own_printed_label_is_not_a_watermark(picture: Any) -> None:
    result = stray_text(png(picture()), "product-white-background")
    assert result["passed"], result["detail"]


def overlay(picture: Image.Image, centre: tuple[int, int], words: str, size: int, colour: Any, opacity: float) -> Any:
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    write(ImageDraw.Draw(layer), centre, words, size, (*colour, round(255 * opacity)))
    marked = picture.convert("RGBA")
    marked.alpha_composite(layer)
    return marked.convert("RGB")


@pytest.mark.parametrize(
    "picture",
    [
        # On the white background beside the product: a corner mark.
        pytest.param(lambda: overlay(bottle("AQUA"), (1030, 1100), "SAMPLE", 60, (90, 90, 90), 1.0), id="corner"),
        # Opaque, across the product's edge onto the background on both sides.
        pytest.param(lambda: overlay(bottle(), (600, 420), "SAMPLE", 150, (70, 70, 70), 1.0), id="across-edge"),
        # A faint overlay wholly inside the product: it only lightens the glass under it.
        pytest.param(lambda: overlay(bottle(), (600, 950), "SAMPLE", 80, (255, 255, 255), 0.35), id="faint-inside"),
    ],
)
def test_a_watermark_on_a_product_shot_still_fails(picture: Any) -> None:
    result = stray_text(png(picture()), "product-white-background")
    assert not result["passed"]
    assert "SAMPLE" in result["detail"]


def test_a_bold_mark_laid_over_a_varied_product_still_fails() -> None:
    # Wholly inside the cup-and-saucer's silhouette, but across cup, coffee, spoon and saucer: not printed on them.
    image = (FIXTURES / "product-white-background" / "graded" / "watermark-bold.jpg").read_bytes()
    result = stray_text(image, "product-white-background")
    assert not result["passed"] and "SAMPLE" in result["detail"]


def scene_with_sign(words: str, corner_mark: str = "") -> bytes:
    """A photograph with a shop sign hung in the middle saying ``words``; optionally a credit in a corner."""
    picture = Image.fromarray(data.chelsea()).resize((1024, 768))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((272, 300, 752, 460), fill=(245, 240, 225), outline=(60, 40, 20), width=8)
    write(draw, (512, 380), words, 90, (170, 20, 20))
    if corner_mark:
        write(draw, (880, 730), corner_mark, 36, (255, 255, 255))
    return png(picture)


@pytest.mark.parametrize(
    "prompt",
    [
        'a shop sign that says "OPEN 24/7"',
        "a cat next to a sign reading “OPEN 24/7”",
        "a cat under a sign: 'OPEN 24/7'",
        "a cat under a sign: « Open 24/7 »",
    ],
)
def test_text_the_prompt_asks_for_is_not_stray(prompt: str) -> None:
    result = stray_text(scene_with_sign("OPEN 24/7"), "text-to-image", prompt=prompt)
    assert result["passed"], result["detail"]


def test_text_the_prompt_does_not_ask_for_still_fails() -> None:
    unasked = stray_text(scene_with_sign("OPEN 24/7"), "text-to-image", prompt="a cat's favourite corner shop")
    assert not unasked["passed"] and "OPEN" in unasked["detail"]
    # The sign asked for, and a credit nobody asked for: the credit fails, alone.
    credit = stray_text(
        scene_with_sign("OPEN 24/7", "© PhotoStock"), "text-to-image", prompt='a sign that says "OPEN 24/7"'
    )
    assert not credit["passed"]
    assert "PhotoStock" in credit["detail"] and "OPEN" not in credit["detail"]


def failed(criterion: str, **fields: object) -> dict[str, Any]:
    entry = {"id": criterion, "passed": False, "measured": 1, "threshold": 0, "detail": "x", "severity": "severe"}
    return {"judges": [{"judge": "text", "passed": False, "criteria": [entry | fields]}]}


def test_the_stray_text_fix_never_forbids_the_prompts_text_or_the_products_label() -> None:
    [sign] = fixes_for(BUILTIN.get("text-to-image"), failed("no-stray-text"), {"prompt": 'a sign saying "OPEN"'})
    assert "watermark" in sign.lower()
    assert "anywhere" not in sign and not sign.startswith("No text")
    [product] = fixes_for(BUILTIN.get("product-white-background"), failed("no-stray-text"), {})
    assert "watermark" in product.lower()
    assert not re.search(r"\bno\b[^.;]*\blabels?\b", product, re.I), product


def quoted_texts(prompt: str) -> list[str]:
    """What a reader takes for the quoted texts of a prompt: each text between the quote marks that open it."""
    pairs = {'"': '"', "«": "»", "“": "”", "「": "」"}
    found, i = [], 0
    while i < len(prompt):
        closing = pairs.get(prompt[i])
        if closing is None:
            i += 1
            continue
        end = prompt.index(closing, i + 1)
        found.append(prompt[i + 1 : end])
        i = end + 1
    return found


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ('Say "Hi"\nto Bob', ['Say "Hi"', "to Bob"]),
        ("Hot Coffee\n$2.50", ["Hot Coffee", "$2.50"]),
        ('A «B» and "C"', ['A «B» and "C"']),
        ("OPEN 24/7", ["OPEN 24/7"]),
    ],
)
def test_regeneration_guidance_quotes_the_text_unambiguously_line_by_line(text: str, lines: list[str]) -> None:
    rubric = BUILTIN.get("text-render")
    result = failed("expected-text", measured="", facts={})
    result["judges"][0]["criteria"].append(failed("no-other-text", severity="moderate")["judges"][0]["criteria"][0])
    prompt = regeneration_prompt("a neon sign", join_guidance(fixes_for(rubric, result, {"text": text})))
    # Each fix names every line of the text, whole, in order: the first fix, then the second.
    assert quoted_texts(prompt) == lines + lines, prompt
    if len(lines) > 1:
        assert "each on its own line in that order" in prompt
