"""The Stability adapter's edits (inpaint, erase, search-and-replace) against the fake v2beta API."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from sentinel.providers.base import Operation, Outcome
from sentinel.providers.stability import StabilityProvider
from sentinel.store.images import sniff_mime
from sentinel_fakes.server import png_image
from sentinel_fakes.stability import create_app
from tests.providers.harness import AdapterRunner, FakeApp

run = AdapterRunner(lambda base, client, timeout: StabilityProvider(base, "sk-test", client, timeout=timeout), "")


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


def transparent_mask(size: int = 64) -> bytes:
    """OpenAI's convention: a quarter of the image fully transparent marks what to change."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    ImageDraw.Draw(image).rectangle((0, 0, size // 2 - 1, size // 2 - 1), fill=(0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_inpaint_sends_image_prompt_and_a_white_mask(fake) -> None:
    base, script = fake
    result = run(
        base,
        model="inpaint",
        prompt="a vase of flowers",
        image=png_image(),
        mask=transparent_mask(),
        negative_prompt="text",
        seed=5,
        params={"grow_mask": 3},
        operation=Operation.EDIT,
    )
    assert result.outcome is Outcome.OK and sniff_mime(result.images[0].data) == "image/png"
    sent = script.requests[-1]
    assert sent["path"] == "/v2beta/stable-image/edit/inpaint"
    assert sent["files"] == ["image", "mask"]
    # Transparent became white, Stability's way: a quarter of the mask.
    assert sent["mask_white"] == pytest.approx(0.25)
    assert sent["body"] == {
        "prompt": "a vase of flowers",
        "negative_prompt": "text",
        "seed": "5",
        "grow_mask": "3",
        "output_format": "png",
    }


def test_erase_sends_no_prompt(fake) -> None:
    base, script = fake
    result = run(
        base, model="erase", prompt="remove it", image=png_image(), mask=transparent_mask(), operation=Operation.EDIT
    )
    assert result.outcome is Outcome.OK
    assert script.requests[-1]["path"] == "/v2beta/stable-image/edit/erase"
    assert "prompt" not in script.requests[-1]["body"]


def test_search_and_replace_reads_what_to_replace_from_the_prompt(fake) -> None:
    base, script = fake
    result = run(
        base,
        model="search-and-replace",
        prompt="replace the red cup with a glass vase",
        image=png_image(),
        operation=Operation.EDIT,
    )
    assert result.outcome is Outcome.OK
    body = script.requests[-1]["body"]
    assert body["search_prompt"] == "red cup" and body["prompt"] == "a glass vase"
    unclear = run(base, model="search-and-replace", prompt="make it nicer", image=png_image(), operation=Operation.EDIT)
    assert unclear.outcome is Outcome.INVALID_REQUEST and "search_prompt" in unclear.message


def test_edit_failures_are_typed_like_generations(fake) -> None:
    base, script = fake
    script.push("rate_limit")
    limited = run(base, model="inpaint", prompt="p", image=png_image(), operation=Operation.EDIT)
    assert limited.outcome is Outcome.RATE_LIMITED and limited.retry_after == 1
    refused = run(base, model="inpaint", prompt="moderate-me", image=png_image(), operation=Operation.EDIT)
    assert refused.outcome is Outcome.CONTENT_FILTERED


def test_edit_models_only_edit_and_generate_models_only_generate() -> None:
    assert StabilityProvider.supports("inpaint", Operation.EDIT)
    assert not StabilityProvider.supports("inpaint", Operation.GENERATE)
    assert not StabilityProvider.supports("stable-image-core", Operation.EDIT)
    assert not StabilityProvider.supports("inpaint", Operation.VARIATION)
