"""A provider's words are untrusted text, in its successes as in its failures: a ``revised_prompt`` or an output URL
holding NUL or a lone surrogate (JSON's ``\\ud800`` escape decodes to one), and a refusal or outage message holding
a lone surrogate, must give the caller the plain answer for a sane value (200 with the image, 400 naming the field,
503), with the odd characters dropped, recorded in the call log on PostgreSQL (which refuses NUL in text and cannot
encode a lone surrogate), never a 500 or a "database refused a value" 400 about the caller's own request."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel_fakes.server import png_image, serve
from tests.conftest import serving_with_fake

ODD = "\x00\udfff\ud800"


def answer_for(prompt: str, base: str) -> tuple[int, dict[str, Any]]:
    image = base64.b64encode(png_image(64, 64, seed=3)).decode()
    if prompt == "odd-revised":
        return 200, {"created": 1, "data": [{"b64_json": image, "revised_prompt": f"a red{ODD} mug"}]}
    if prompt == "odd-url":
        return 200, {"created": 1, "data": [{"url": f"{base}/files/out{ODD}.png", "revised_prompt": "ok"}]}
    if prompt == "odd-refusal":
        error = {"message": f"bad{ODD} size", "type": "invalid_request_error", "param": f"si{ODD}ze", "code": "x\ud800"}
        return 400, {"error": error}
    if prompt == "odd-outage":
        return 503, {"error": {"message": f"down{ODD} for maintenance", "type": "server_error"}}
    if prompt == "deep":
        # Deeper than orjson reads, and than Python's parser can (it then raises RecursionError, not ValueError).
        return 200, {"data": "DEEP"}
    raise AssertionError(prompt)


def odd_provider() -> Starlette:
    base: list[str] = []

    async def generations(request: Request) -> Response:
        status, body = answer_for((await request.json())["prompt"], base[0])
        # ensure_ascii writes a lone surrogate as its \\u escape, as a provider's JSON encoder may.
        text = json.dumps(body, ensure_ascii=True).replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
        return Response(text, status_code=status, media_type="application/json")

    async def files(request: Request) -> Response:
        return Response(png_image(64, 64, seed=4), media_type="image/png")

    app = Starlette(
        routes=[
            Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/files/{name:path}", files, methods=["GET"]),
        ]
    )
    app.state.base = base
    return app


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[str]:
    app = odd_provider()
    with serve(app) as fake:
        app.state.base.append(fake.url)
        # The fake serves its output files itself, on loopback.
        loopback = "127.0.0.1/32"
        with serving_with_fake(
            fake.url, tmp_path, SENTINEL_DATABASE_URL=postgres_url, SENTINEL_FETCH_ALLOWED_NETWORKS=loopback
        ) as base:
            yield base


def generate(base: str, prompt: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/images/generations", json={"prompt": prompt, "size": "1024x1024"}, timeout=60)


def no_odd_text(answer: httpx.Response) -> None:
    for odd in ("\x00", "\\u0000", "\ud800", "\\ud800", "\\udfff"):
        assert odd not in answer.text, answer.text


def test_odd_characters_in_a_revised_prompt_are_dropped(stack: str) -> None:
    answer = generate(stack, "odd-revised")
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][0]["revised_prompt"] == "a red mug"
    no_odd_text(answer)


def test_odd_characters_in_an_output_url_give_the_plain_answer(stack: str) -> None:
    answer = generate(stack, "odd-url")
    # The image is downloaded from the address without the odd characters.
    assert answer.status_code == 200, answer.text
    assert "database" not in answer.text
    no_odd_text(answer)


def test_a_refusal_with_lone_surrogates_names_the_field_without_them(stack: str) -> None:
    answer = generate(stack, "odd-refusal")
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "size"
    assert "database" not in error["message"]
    no_odd_text(answer)


def test_an_outage_with_lone_surrogates_answers_the_outage(stack: str) -> None:
    answer = generate(stack, "odd-outage")
    assert answer.status_code == 503, answer.text
    assert "database" not in answer.json()["error"]["message"]
    no_odd_text(answer)


def test_an_answer_nested_deeper_than_any_parser_reads_is_a_plain_outage(stack: str) -> None:
    answer = generate(stack, "deep")
    assert answer.status_code == 503, answer.text
    assert "not JSON" in answer.json()["error"]["message"]
