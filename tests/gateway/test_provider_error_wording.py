"""Provider errors reach the caller in words a person reads (outside probe F7): an nginx page by its title, said
once however many passes met it; a FastAPI 422 as JSON with the field it names as the error's `param`; an animated
answer blamed on the provider, with no advice to the caller (who sent no image) to "send one frame"; a wait that
is nearly over never said as "0.0 s"."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import clean_env, start_server

NGINX_503 = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service "
    "Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>"
)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((200, 30, 30), (30, 30, 200))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


async def generations(request: Request) -> Response:
    model = (await request.json()).get("model")
    if model == "nginx-503":
        return HTMLResponse(NGINX_503, status_code=503)
    if model == "fastapi-422":
        detail = [{"loc": ["body", "size"], "msg": "unsupported size", "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    return JSONResponse({"data": [{"b64_json": base64.b64encode(_animated_gif()).decode()}]})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("wording")
    app = Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])
    with serve(app) as fake:
        providers = {"gw": {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key_env": "GW_KEY"}}
        models = {name: {"candidates": [{"target": f"gw:{name}"}]} for name in ("nginx-503", "fastapi-422", "gif")}
        routes = {"providers": providers, "models": models, "default_model": "gif", "max_passes": 2}
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), GW_KEY="k")
        process, base = start_server(env, tmp / "serve.log")
        try:
            yield base
        finally:
            process.stop()


def error_of(base: str, model: str) -> dict[str, Any]:
    body = {"model": model, "prompt": "a bottle", "size": "1024x1024"}
    answer = httpx.post(f"{base}/v1/images/generations", json=body, timeout=60)
    assert answer.status_code >= 400, answer.text
    return answer.json()["error"]


def test_an_html_page_is_quoted_by_its_title_once(gateway: str) -> None:
    message = error_of(gateway, "nginx-503")["message"]
    assert "<html" not in message and "<title" not in message, message
    assert "503 Service Temporarily Unavailable" in message
    # Two passes met the same page: said once, with how often.
    assert message.count("503 Service Temporarily Unavailable") == 1, message
    assert "2 times" in message


def test_a_fastapi_422_is_json_and_names_the_field(gateway: str) -> None:
    error = error_of(gateway, "fastapi-422")
    assert "[{'loc'" not in error["message"], error
    assert '"loc":["body","size"]' in error["message"], error
    assert error["param"] == "size", error


def test_an_animated_answer_blames_the_provider(gateway: str) -> None:
    message = error_of(gateway, "gif")["message"]
    assert "animated" in message and "send one frame" not in message, message
    assert "provider" in message


@pytest.mark.parametrize(("seconds", "said"), [(0.04, "less than 1 s"), (0.9, "less than 1 s"), (1.2, "2 s")])
def test_a_wait_nearly_over_is_not_said_as_zero(seconds: float, said: str) -> None:
    from sentinel.providers import router

    assert router._seconds(seconds) == said
