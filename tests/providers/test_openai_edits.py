"""The OpenAI adapter's edits and variations against the fake Images API, which checks them as OpenAI does."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from sentinel.providers.base import Operation, Outcome
from sentinel.providers.openai import OpenAIProvider
from sentinel.store.images import sniff_mime
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import png_image
from tests.providers.harness import AdapterRunner, FakeApp

run = AdapterRunner(lambda base, client, timeout: OpenAIProvider(f"{base}/v1", "sk-test", client, timeout=timeout), "")


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


def white_mask(size: int = 64) -> bytes:
    """Sentinel's convention: white over a 16×16 square marks what to change."""
    image = Image.new("L", (size, size), 0)
    ImageDraw.Draw(image).rectangle((8, 8, 23, 23), fill=255)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_gpt_image_edit_sends_image_list_and_the_mask_as_openai_reads_it(fake) -> None:
    base, script = fake
    result = run(
        base,
        model="gpt-image-1",
        prompt="remove the cup",
        image=png_image(),
        mask=white_mask(),
        operation=Operation.EDIT,
        width=64,
        height=64,
    )
    assert result.outcome is Outcome.OK and sniff_mime(result.images[0].data) == "image/png"
    sent = script.requests[-1]
    assert sent["path"] == "/v1/images/edits"
    assert sent["body"]["files"] == ["image[]", "mask"]
    # White became transparent: OpenAI edits where the mask's alpha is zero, exactly the 16×16 square.
    assert sent["mask_alpha"] == {"transparent": 256, "opaque": 64 * 64 - 256}
    # No size asked for: none sent (the source's size is kept); gpt-image takes no response_format.
    assert "size" not in sent["body"] and "response_format" not in sent["body"]
    assert sent["body"]["model"] == "gpt-image-1" and sent["body"]["prompt"] == "remove the cup"


def test_an_asked_size_and_output_fields_reach_the_edit(fake) -> None:
    base, script = fake
    result = run(
        base,
        model="gpt-image-1",
        prompt="p",
        image=png_image(),
        operation=Operation.EDIT,
        params={"size": "1024x1024", "quality": "high"},
    )
    assert result.outcome is Outcome.OK
    assert script.requests[-1]["body"]["size"] == "1024x1024"
    assert script.requests[-1]["body"]["quality"] == "high"


def test_dall_e_2_variation_sends_one_image_and_no_prompt(fake) -> None:
    base, script = fake
    result = run(base, model="dall-e-2", prompt="", image=png_image(), operation=Operation.VARIATION)
    assert result.outcome is Outcome.OK
    sent = script.requests[-1]
    assert sent["path"] == "/v1/images/variations"
    assert sent["body"]["files"] == ["image"] and "prompt" not in sent["body"]
    assert sent["body"]["response_format"] == "b64_json"


def test_what_openai_refuses_comes_back_as_an_invalid_request_naming_the_field(fake) -> None:
    base, _ = fake
    wide = io.BytesIO()
    Image.new("RGB", (64, 32)).save(wide, "PNG")
    refused = run(base, model="dall-e-2", prompt="", image=wide.getvalue(), operation=Operation.VARIATION)
    assert refused.outcome is Outcome.INVALID_REQUEST and refused.param == "image"


def test_which_models_edit_and_vary() -> None:
    assert OpenAIProvider.supports("gpt-image-1", Operation.EDIT)
    assert not OpenAIProvider.supports("gpt-image-1", Operation.VARIATION)
    assert OpenAIProvider.supports("dall-e-2", Operation.VARIATION)
    assert not OpenAIProvider.supports("dall-e-3", Operation.EDIT)
