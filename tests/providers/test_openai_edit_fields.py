"""OpenAI's edit fields on the wire: every image (up to 16) and ``input_fidelity`` reach the GPT image models that take
them, each adapter declares which fields it takes, and the fake Images API refuses what OpenAI refuses (input_fidelity
for DALL·E 2 and the gpt-image-2 line, more than 16 images, streaming), so these tests prove the wire."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from sentinel.providers.base import (
    MAX_EDIT_IMAGES,
    Operation,
    Outcome,
    OutputOptions,
    output_fields,
    unsupported_output,
)
from sentinel.providers.fal import FalProvider
from sentinel.providers.local import LocalProvider
from sentinel.providers.openai import OpenAIProvider
from sentinel.providers.replicate import ReplicateProvider
from sentinel.providers.stability import StabilityProvider
from sentinel_fakes.openai import create_app
from tests.providers.harness import AdapterRunner, FakeApp

run = AdapterRunner(lambda base, client, timeout: OpenAIProvider(f"{base}/v1", "sk-test", client, timeout=timeout), "")


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


def picture(colour: tuple[int, int, int], size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


IMAGES = [picture((200, 30, 30)), picture((30, 200, 30)), picture((30, 30, 200))]


def edit(base: str, model: str, images: list[bytes], **output: object):
    return run(
        base,
        model=model,
        prompt="put the three products on one shelf",
        image=images[0],
        more_images=tuple(images[1:]),
        output=OutputOptions(**output),  # type: ignore[arg-type]
        operation=Operation.EDIT,
        width=64,
        height=64,
    )


def post_edit(base: str, fields: dict[str, str], images: list[bytes], name: str = "image[]") -> httpx.Response:
    """A raw edit to the fake, as a client other than Sentinel's adapter might send it."""
    return httpx.post(
        f"{base}/v1/images/edits",
        headers={"Authorization": "Bearer sk-test"},
        data={"prompt": "x"} | fields,
        files=[(name, (f"{i}.png", data, "image/png")) for i, data in enumerate(images)],
    )


def test_every_image_and_input_fidelity_reach_a_gpt_image_model(fake) -> None:
    base, script = fake
    result = edit(base, "gpt-image-1.5", IMAGES, input_fidelity="high", image=3)
    assert result.outcome is Outcome.OK, result.message
    sent = script.requests[-1]["body"]
    assert sent["files"] == ["image[]", "image[]", "image[]"] and sent["images"] == 3
    assert sent["input_fidelity"] == "high"
    assert "image" not in {k for k, v in sent.items() if isinstance(v, str)}  # the count is no text field


def test_the_fake_refuses_input_fidelity_where_openai_does(fake) -> None:
    base, _ = fake
    # OpenAI's edit reference: high and low on gpt-image-1.5, only low on gpt-image-1-mini, omitted for gpt-image-2.
    mini = edit(base, "gpt-image-1-mini", IMAGES[:1], input_fidelity="high")
    assert mini.outcome is Outcome.INVALID_REQUEST and mini.param == "input_fidelity"
    assert edit(base, "gpt-image-1-mini", IMAGES[:1], input_fidelity="low").outcome is Outcome.OK
    # The adapter never sends it to the gpt-image-2 line (the gateway does not route it there); the fake refuses it.
    flare = post_edit(base, {"model": "gpt-image-2.6-flare", "input_fidelity": "low"}, [picture((1, 2, 3))])
    assert flare.status_code == 400 and flare.json()["error"]["param"] == "input_fidelity"


def test_the_fake_refuses_input_fidelity_for_dall_e_2_and_more_than_16_images(fake) -> None:
    base, _ = fake
    square = picture((10, 10, 10))
    dall_e = post_edit(base, {"model": "dall-e-2", "input_fidelity": "high"}, [square], name="image")
    assert dall_e.status_code == 400 and dall_e.json()["error"]["param"] == "input_fidelity"
    too_many = post_edit(base, {"model": "gpt-image-1.5"}, [square] * (MAX_EDIT_IMAGES + 1))
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "image[]"
    streaming = post_edit(base, {"model": "gpt-image-1.5", "stream": "true"}, [square])
    assert streaming.status_code == 400 and streaming.json()["error"]["param"] == "stream"


def test_sixteen_images_reach_a_gpt_image_model(fake) -> None:
    base, script = fake
    images = [picture((i * 15, 100, 100)) for i in range(MAX_EDIT_IMAGES)]
    assert edit(base, "gpt-image-2.6-flare", images, image=MAX_EDIT_IMAGES).outcome is Outcome.OK
    assert script.requests[-1]["body"]["images"] == MAX_EDIT_IMAGES


@pytest.mark.parametrize(
    ("adapter", "model"),
    [
        (StabilityProvider, "inpaint"),
        (FalProvider, "fal-ai/flux-pro/v1/fill"),
        (ReplicateProvider, "black-forest-labs/flux-fill-pro"),
        (LocalProvider, "procedural"),
        (OpenAIProvider, "dall-e-2"),
    ],
)
def test_editors_that_take_one_image_and_no_input_fidelity_say_so(adapter: type, model: str) -> None:
    # What the gateway asks before routing: such a candidate is skipped, or the request refused naming the field.
    fields = output_fields(adapter, model)
    assert unsupported_output(OutputOptions(image=2), fields) == "image"
    assert unsupported_output(OutputOptions(input_fidelity="low"), fields) == "input_fidelity"


def test_gpt_image_models_declare_the_edit_fields_they_take() -> None:
    assert output_fields(OpenAIProvider, "gpt-image-1.5")["input_fidelity"] == frozenset({"high", "low"})
    assert output_fields(OpenAIProvider, "gpt-image-1-mini")["input_fidelity"] == frozenset({"low"})
    assert "input_fidelity" not in output_fields(OpenAIProvider, "gpt-image-2.6-flare")
    assert unsupported_output(OutputOptions(image=16), output_fields(OpenAIProvider, "gpt-image-2.6-flare")) is None
    assert unsupported_output(OutputOptions(image=17), output_fields(OpenAIProvider, "gpt-image-2.6-flare")) == "image"
