"""OpenAI's edit fields through `sentinel serve`, with the official SDK as the client: every image (up to 16) and
`input_fidelity` reach the GPT image models that take them; a candidate that cannot take a field is skipped, and a
model none of whose candidates can is 400 in OpenAI's shape naming the field and the models that take it; `stream`
is refused; GET /v1/models says which fields each candidate takes. Fake OpenAI and Stability servers check the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import openai
import pytest
import yaml

from sentinel_fakes.openai import create_app as openai_app
from sentinel_fakes.server import Script, serve
from sentinel_fakes.stability import create_app as stability_app
from tests.conftest import clean_env, start_server
from tests.gateway.test_edits import ball_mask, picture


class Gateway(NamedTuple):
    base: str
    openai: Script
    stability: Script


ROUTES: dict[str, Any] = {
    "gpt-image-1.5": {"candidates": [{"target": "oa:gpt-image-1.5"}]},
    # Stability first: an edit asking input_fidelity or several images skips it for OpenAI.
    "inpaint-then-gpt": {"candidates": [{"target": "stab:inpaint"}, {"target": "oa:gpt-image-1.5"}]},
    "inpaint": {"candidates": [{"target": "stab:inpaint"}]},
    "flare": {"candidates": [{"target": "oa:gpt-image-2.6-flare"}]},
    "dall-e": {"candidates": [{"target": "oa:dall-e-2"}]},
    "offline": {"candidates": [{"target": "local:procedural"}]},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("edit-fields")
    openai_script, stability_script = Script(), Script()
    with serve(openai_app(openai_script)) as oa, serve(stability_app(stability_script)) as stab:
        routes: dict[str, Any] = {
            "providers": {
                "oa": {"kind": "openai", "base_url": f"{oa.url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 5},
                "stab": {"kind": "stability", "base_url": stab.url, "api_key_env": "FAKE_KEY", "timeout_seconds": 5},
                "local": {"kind": "local"},
            },
            "models": ROUTES,
            "default_model": "offline",
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), FAKE_KEY="k")
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, openai_script, stability_script)
        finally:
            server.stop()


def sdk(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused-by-the-embedded-default", max_retries=0)


def images(count: int) -> list[tuple[str, bytes, str]]:
    return [(f"product{i}.png", picture(background=(240 - i * 5, 240, 240)), "image/png") for i in range(count)]


def refused(call: Any) -> dict[str, Any]:
    """The OpenAI error body of a call the SDK raised BadRequestError for."""
    with pytest.raises(openai.BadRequestError) as raised:
        call()
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    return body


def test_every_image_and_input_fidelity_reach_a_gpt_image_model(gateway: Gateway) -> None:
    raw = sdk(gateway.base).images.with_raw_response.edit(
        model="gpt-image-1.5",
        image=images(3),
        mask=("mask.png", ball_mask(), "image/png"),
        prompt="put the three products on one shelf",
        input_fidelity="high",
    )
    assert raw.parse().data[0].b64_json  # gpt-image answers base64, as OpenAI does
    sent = gateway.openai.requests[-1]["body"]
    assert sent["files"] == ["image[]", "image[]", "image[]", "mask"] and sent["images"] == 3
    assert sent["input_fidelity"] == "high" and sent["model"] == "gpt-image-1.5"


def test_a_candidate_that_cannot_take_a_field_is_skipped_and_not_counted(gateway: Gateway) -> None:
    stability_calls = len(gateway.stability.requests)
    for extra in ({"input_fidelity": "low", "image": images(1)}, {"image": images(2)}):
        raw = sdk(gateway.base).images.with_raw_response.edit(
            model="inpaint-then-gpt",
            prompt="one shelf",
            **extra,  # type: ignore[arg-type]
        )
        assert raw.headers["x-sentinel-provider"] == "oa" and raw.headers["x-sentinel-attempts"] == "1"
    assert len(gateway.stability.requests) == stability_calls  # Stability was never asked
    # Without those fields Stability, first in the route, serves the edit.
    plain = sdk(gateway.base).images.with_raw_response.edit(
        model="inpaint-then-gpt", image=images(1)[0], mask=("m.png", ball_mask(), "image/png"), prompt="a plant"
    )
    assert plain.headers["x-sentinel-provider"] == "stab"


def test_input_fidelity_no_candidate_takes_is_400_naming_it_and_the_models_that_do(gateway: Gateway) -> None:
    calls = len(gateway.openai.requests) + len(gateway.stability.requests)
    for model in ("inpaint", "flare", "dall-e", "offline"):
        body = refused(
            lambda model=model: sdk(gateway.base).images.edit(
                model=model, image=images(1)[0], prompt="x", input_fidelity="high"
            )
        )
        assert body["param"] == "input_fidelity" and body["code"] == "unsupported_parameter", body
        assert f"model '{model}'" in body["message"]
        assert "models that take it: gpt-image-1.5, inpaint-then-gpt" in body["message"], body["message"]
    assert len(gateway.openai.requests) + len(gateway.stability.requests) == calls


def test_several_images_where_no_candidate_takes_them_are_400_naming_image(gateway: Gateway) -> None:
    for model in ("inpaint", "dall-e", "offline"):
        body = refused(lambda model=model: sdk(gateway.base).images.edit(model=model, image=images(2), prompt="x"))
        assert body["param"] == "image" and "2 images" in body["message"]
        assert "flare" in body["message"] and "gpt-image-1.5" in body["message"]


def test_more_than_16_images_are_400_before_any_provider_is_called(gateway: Gateway) -> None:
    calls = len(gateway.openai.requests)
    body = refused(lambda: sdk(gateway.base).images.edit(model="flare", image=images(17), prompt="x"))
    assert body["param"] == "image" and "at most 16" in body["message"]
    assert len(gateway.openai.requests) == calls
    sixteen = sdk(gateway.base).images.edit(model="flare", image=images(16), prompt="x")
    assert sixteen.data and gateway.openai.requests[-1]["body"]["images"] == 16


def test_stream_true_is_refused_naming_stream(gateway: Gateway) -> None:
    body = refused(
        lambda: sdk(gateway.base).images.edit(model="gpt-image-1.5", image=images(1)[0], prompt="x", stream=True)
    )
    assert body["param"] == "stream" and "not supported" in body["message"]
    # stream=false and partial_images (meaningful only while streaming) are OpenAI's defaults: accepted.
    answer = httpx.post(
        f"{gateway.base}/v1/images/edits",
        files={"image": ("p.png", picture(), "image/png")},
        data={"prompt": "x", "model": "gpt-image-1.5", "stream": "false", "partial_images": "0"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert "stream" not in gateway.openai.requests[-1]["body"]


def test_the_catalog_lists_which_fields_each_candidate_takes(gateway: Gateway) -> None:
    def details(model: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{gateway.base}/v1/models/{model}", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["candidate_details"]

    stab, gpt = details("inpaint-then-gpt")
    assert stab["edits"] is True and stab["generates"] is False and stab["max_images"] == 1
    assert stab["fields"] == ["output_format"]
    assert gpt["edits"] is True and gpt["max_images"] == 16 and gpt["variations"] is False
    assert {"input_fidelity", "background", "output_format", "output_compression", "moderation"} <= set(gpt["fields"])
    assert gpt["field_values"]["input_fidelity"] == ["high", "low"]
    (flare,) = details("flare")
    assert "input_fidelity" not in flare["fields"] and flare["field_values"]["background"] == ["auto", "opaque"]
    (local,) = details("offline")
    assert local["fields"] == [] and local["edits"] is True and local["variations"] is True
