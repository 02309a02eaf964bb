"""A candidate of an OpenAI-compatible gateway whose model is an alias (``company-image-v2``, really gpt-image-1.5)
behaves as the family its routing file declares (``family: gpt-image-1.5``): it edits with every image as
``image[]`` and its ``input_fidelity``, is never sent ``response_format``, and takes the GPT image output fields.
Without ``family`` the name decides, as before. Seen by a client of `sentinel serve`, through a fake gateway on
127.0.0.1 that maps its aliases onto the fake OpenAI Images API (which refuses what OpenAI refuses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, png_image, serve
from tests.conftest import clean_env, start_server

#: The gateway's own model names and the OpenAI models behind them, as a LiteLLM proxy's model list maps them.
ALIASES = {"company-image-v2": "gpt-image-1.5", "company-image-v3": "dall-e-3"}


class Received(NamedTuple):
    """One request as the gateway received it from Sentinel: its path, text fields (or JSON body) and file parts."""

    path: str
    fields: dict[str, Any]
    files: list[str]


def alias_gateway(upstream: str, received: list[Received]) -> Starlette:
    """An OpenAI-compatible gateway: it records each request, puts the OpenAI model behind the alias in its ``model``
    and passes the rest on unchanged to ``upstream``, answering with upstream's answer."""
    client = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def forward(request: Request) -> Response:
        headers = {"Authorization": request.headers.get("authorization", "")}
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
            received.append(Received(request.url.path, dict(body), []))
            body["model"] = ALIASES.get(body.get("model"), body.get("model"))
            answer = await client.post(request.url.path, json=body, headers=headers)
        else:
            async with request.form() as form:
                fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
                files = [
                    (k, (v.filename or "image.png", await v.read(), v.content_type or "image/png"))
                    for k, v in form.multi_items()
                    if not isinstance(v, str)
                ]
            received.append(Received(request.url.path, dict(fields), [name for name, _ in files]))
            fields["model"] = ALIASES.get(fields.get("model", ""), fields.get("model", ""))
            answer = await client.post(request.url.path, data=fields, files=files, headers=headers)
        return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

    paths = ("/v1/images/generations", "/v1/images/edits", "/v1/images/variations")
    return Starlette(routes=[Route(path, forward, methods=["POST"]) for path in paths])


class Gateway(NamedTuple):
    base: str
    received: list[Received]
    upstream: Script


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("families")
    script, received = Script(), []
    with serve(create_app(script)) as upstream, serve(alias_gateway(upstream.url, received)) as gateway:
        routes: dict[str, Any] = {
            "providers": {
                "company": {
                    "kind": "openai",
                    "base_url": f"{gateway.url}/v1",
                    "api_key_env": "FAKE_KEY",
                    "timeout_seconds": 10,
                }
            },
            "models": {
                "company-edits": {
                    "sizes": ["1024x1024", "64x64"],
                    "candidates": [{"target": "company:company-image-v2", "family": "gpt-image-1.5"}],
                },
                "company-plain": {
                    "sizes": ["1024x1024", "64x64"],
                    "candidates": [{"target": "company:company-image-v3"}],
                },
            },
            "default_model": "company-plain",
            "max_passes": 1,
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), FAKE_KEY="k")
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, received, script)
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def fresh(sentinel: Gateway) -> None:
    sentinel.received.clear()
    sentinel.upstream.requests.clear()


def edit(sentinel: Gateway, model: str, images: int = 1, **fields: str) -> httpx.Response:
    parts = [("image[]", (f"photo{i}.png", png_image(64, 64), "image/png")) for i in range(images)]
    body = {"model": model, "prompt": "remove the cup", "response_format": "b64_json", **fields}
    return httpx.post(f"{sentinel.base}/v1/images/edits", data=body, files=parts, timeout=60)


def generate(sentinel: Gateway, model: str, **fields: Any) -> httpx.Response:
    body = {"model": model, "prompt": "a lighthouse", "response_format": "b64_json", **fields}
    return httpx.post(f"{sentinel.base}/v1/images/generations", json=body, timeout=60)


def test_an_alias_declared_gpt_image_1_5_edits_every_image_with_its_fidelity(sentinel: Gateway) -> None:
    answer = edit(sentinel, "company-edits", images=2, input_fidelity="high")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-sentinel-model"] == "company-image-v2"
    [sent] = sentinel.received
    assert sent.path == "/v1/images/edits"
    assert sent.files == ["image[]", "image[]"]
    assert sent.fields["model"] == "company-image-v2" and sent.fields["input_fidelity"] == "high"
    assert "response_format" not in sent.fields


def test_an_alias_declared_gpt_image_1_5_generates_without_response_format(sentinel: Gateway) -> None:
    answer = generate(sentinel, "company-edits", background="transparent")
    assert answer.status_code == 200, answer.text
    [sent] = sentinel.received
    assert sent.fields["model"] == "company-image-v2" and sent.fields["background"] == "transparent"
    # gpt-image refuses the parameter; the answer to the client is still b64_json, as it asked.
    assert "response_format" not in sent.fields
    assert answer.json()["data"][0]["b64_json"]


def test_the_catalog_shows_the_family_and_what_it_allows(sentinel: Gateway) -> None:
    models = {m["id"]: m for m in httpx.get(f"{sentinel.base}/v1/models", timeout=30).json()["data"]}
    [aliased] = models["company-edits"]["candidate_details"]
    assert aliased["family"] == "gpt-image-1.5"
    assert aliased["edits"] is True and aliased["max_images"] == 16
    assert aliased["field_values"]["input_fidelity"] == ["high", "low"]
    [plain] = models["company-plain"]["candidate_details"]
    assert plain["family"] is None and plain["edits"] is False


def test_an_alias_without_a_family_is_judged_by_its_name_as_before(sentinel: Gateway) -> None:
    refused = edit(sentinel, "company-plain")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "unsupported_operation"
    assert sentinel.received == []  # refused up front: nothing reached the gateway
    answer = generate(sentinel, "company-plain")
    assert answer.status_code == 200, answer.text
    [sent] = sentinel.received
    assert sent.fields["response_format"] == "b64_json"
