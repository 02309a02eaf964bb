"""Something that answers 2xx but not with Sentinel's JSON (a proxy's login page, a web app answering every path, a
base URL with a wrong prefix) is a `SentinelUnexpectedAnswer` naming what came: never a raw JSONDecodeError,
pydantic ValidationError or KeyError; and `sentinel eval --server` at such an address stops with one line, exit 2."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sentinel.client import AsyncSentinel, Sentinel, SentinelError, SentinelUnexpectedAnswer
from sentinel_fakes.server import serve
from tests.conftest import SENTINEL, clean_env, png_bytes

LOGIN_PAGE = "<!doctype html><html><body><form>Sign in to continue</form></body></html>"


def impostor(mode: str) -> Starlette:
    async def everything(request: Request) -> Response:
        if mode == "html":
            return HTMLResponse(LOGIN_PAGE)
        if mode == "empty":
            return Response(b"", status_code=200)
        if mode == "list":
            return JSONResponse([1, 2, 3])
        return JSONResponse({"id": 7, "hello": "world"}, status_code=202)

    return Starlette(routes=[Route("/{path:path}", everything, methods=["GET", "POST"])])


@pytest.fixture(params=["html", "empty", "list", "other_json"])
def address(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    with serve(impostor(request.param)) as fake:
        yield fake.url, request.param


def test_the_blocking_client_names_an_answer_it_cannot_read(address) -> None:
    url, mode = address
    with Sentinel(url, max_retries=0) as client:
        for call in (
            lambda: client.get_evaluation("ev_1"),
            lambda: client.get_job("job_1"),
            lambda: client.list_jobs(),
            lambda: list(client.list_evaluations(limit=5)),
            lambda: client.review_queue(),
            lambda: client.evaluate(png_bytes(), "text-to-image", wait=False),
        ):
            with pytest.raises(SentinelUnexpectedAnswer) as raised:
                call()
            assert raised.value.status_code in (200, 202)
            assert "is this the address of a Sentinel server" in str(raised.value)
    if mode == "html":
        assert "Sign in to continue" in str(raised.value)


def test_the_async_client_names_an_answer_it_cannot_read(address) -> None:
    url, _ = address

    async def calls() -> list[BaseException]:
        async with AsyncSentinel(url, max_retries=0) as client:
            outcomes = await asyncio.gather(
                client.get_job("job_1"), client.list_jobs(), client.get_evaluation("ev_1"), return_exceptions=True
            )
        return list(outcomes)

    for outcome in asyncio.run(calls()):
        assert isinstance(outcome, SentinelUnexpectedAnswer), repr(outcome)
        assert isinstance(outcome, SentinelError)


def test_eval_against_an_address_that_is_no_sentinel_is_one_line_and_exit_2(tmp_path) -> None:
    image = tmp_path / "sign.png"
    image.write_bytes(png_bytes())
    with serve(impostor("html")) as fake:
        result = subprocess.run(
            [SENTINEL, "eval", str(image), "--task", "text-to-image", "--server", fake.url],
            capture_output=True,
            text=True,
            env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
            timeout=120,
        )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "is not a Sentinel server" in result.stderr and "--server" in result.stderr
