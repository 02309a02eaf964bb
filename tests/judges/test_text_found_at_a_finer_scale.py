"""A correct sign the text detector misses at its usual scale is looked for once more at a finer one.

The detector sees a page scaled to 480 pixels: there it found nothing at all on large letters of hairline strokes
(DejaVu Sans ExtraLight 'COOL', 'DOG' at 90-100 px letters) and on short words of round letters ('ZOO' in DejaVu
Serif at 50 px letters), so correct signs were judged red with the text "absent". Text that is really not on the
page stays absent. Images are drawn in code with the DejaVu fonts.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from tests.judges.test_text_reading import DEJAVU, SERIF, criterion, png, sign, verdict

EXTRA_LIGHT = DEJAVU / "DejaVuSans-ExtraLight.ttf"
SERIF_ITALIC = DEJAVU / "DejaVuSerif-Italic.ttf"


@pytest.mark.parametrize(
    ("image", "words"),
    [
        pytest.param(png(sign("COOL", EXTRA_LIGHT, size=120)), "COOL", id="COOL-extralight-120"),
        pytest.param(png(sign("GOLD", EXTRA_LIGHT, size=120)), "GOLD", id="GOLD-extralight-120"),
        pytest.param(png(sign("DOG", EXTRA_LIGHT, size=140)), "DOG", id="DOG-extralight-140"),
        pytest.param(png(sign("ZOO", SERIF, size=70)), "ZOO", id="ZOO-serif-70"),
        pytest.param(png(sign("FOOD", SERIF_ITALIC, size=70)), "FOOD", id="FOOD-serif-italic-70"),
    ],
)
def test_a_correct_sign_the_detector_misses_at_its_usual_scale_is_green(image: bytes, words: str) -> None:
    # The text criterion itself: a flat drawn board can draw a mild remark of another judge (pixelation).
    document = verdict(image, text=words)
    assert document["verdict"] != "red", document["summary"]
    result = criterion(document, "expected-text")
    assert result["passed"], result["detail"]
    assert "absent" not in result["detail"]


def test_text_that_is_not_on_the_page_is_still_absent() -> None:
    picture = Image.new("RGB", (1024, 1024), (120, 135, 150))
    ImageDraw.Draw(picture).ellipse((300, 300, 700, 700), fill=(200, 60, 40))
    document = verdict(png(picture), text="ZOO")
    assert document["verdict"] == "red", document["summary"]
    assert "absent" in criterion(document, "expected-text")["detail"]
