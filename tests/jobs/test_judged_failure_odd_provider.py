"""A provider whose refusal carries odd words (a `param` and a `code` longer than their columns, a
`Retry-After: nan`) still ends a judged request's job with its failure recorded on PostgreSQL, and the judged
request answers the 4xx of the refusal: the attempt's write is not refused (and retried for ever) over them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import serving_with_fake

ODD_PARAM = "size" + "p" * 300
ODD_CODE = "c" * 300


def refusing_provider(status: int, headers: dict[str, str]) -> Starlette:
    async def generations(request: Request) -> JSONResponse:
        error = {"message": "refused", "type": "invalid_request_error", "param": ODD_PARAM, "code": ODD_CODE}
        return JSONResponse({"error": error}, status_code=status, headers=headers)

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[str]:
    status, headers = request.param
    with (
        serve(refusing_provider(status, headers)) as fake,
        serving_with_fake(fake.url, tmp_path, SENTINEL_DATABASE_URL=postgres_url) as base,
    ):
        yield base


@pytest.mark.parametrize("stack", [(400, {}), (429, {"Retry-After": "nan"})], indirect=True, ids=["400", "429"])
def test_odd_words_of_a_refusal_do_not_stop_its_attempt_being_recorded(stack: str) -> None:
    body: dict[str, Any] = {
        "prompt": "a red mug",
        "size": "1024x1024",
        "sentinel": {"task": "product-white-background", "max_attempts": 1, "budget_seconds": 60},
    }
    judged = httpx.post(f"{stack}/v1/images/generations", json=body, timeout=120)
    assert judged.status_code in (400, 429), judged.text
    # Not the provider's "nan": a 429 says a wait a client can use.
    assert judged.headers.get("retry-after", "1").isdigit(), judged.headers
    job = httpx.get(f"{stack}/v1/jobs/{judged.headers['x-sentinel-job-id']}", timeout=10).json()
    assert job["state"] == "failed", job
    assert [a["state"] for a in job["attempts"]] == ["failed"], job["attempts"]
    if judged.status_code == 400:
        error = judged.json()["error"]
        assert error["param"] == ODD_PARAM[:100]
        assert error["code"] == ODD_CODE[:64]
