"""The offline `local` provider refuses an edit whose mask marks no region (a direct caller's: the gateway refuses
one first), where it handed the source back unchanged as a successful edit (outside probe K1)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from sentinel.providers.local import EditRefused, edit
from tests.gateway.test_edits import SIZE, ball_mask, picture


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("prompt", ["remove the ball", "a plain light grey background"])
def test_a_mask_that_marks_nothing_is_refused_not_answered_with_the_source(prompt: str) -> None:
    with pytest.raises(EditRefused, match="the mask marks no region to change"):
        edit(picture(), png(Image.new("L", (SIZE, SIZE), 0)), prompt, SIZE, SIZE)


def test_a_mask_that_marks_the_ball_still_edits() -> None:
    edited = edit(picture(), ball_mask(), "remove the ball", SIZE, SIZE)
    assert Image.open(io.BytesIO(edited)).size == (SIZE, SIZE) and edited != picture()
