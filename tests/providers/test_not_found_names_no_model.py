"""A JSON 404 that names no model is about the address, not the model: Kong answers `{"message": "no Route matched
with those values"}` while a route deploys, OpenAI `Invalid URL (POST …)` for a wrong base_url path, a framework
`{"detail": "Not Found"}`. Parking the candidate on it kept a provider that answered again a second later out until
the routing file changed (30 days in Redis); it is the provider away: fallback, cool-down, asked again later.
Adapters whose URL names the model (Replicate's model path, Stability's endpoint) still read their own bare
"not found" as the model gone."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel.providers.base import Outcome
from sentinel_fakes.server import serve
from tests.providers.harness import AdapterRunner
from tests.providers.test_not_found_pages import ADAPTERS

ADDRESS_404S = {
    "kong": {"message": "no Route matched with those values"},
    "openai-invalid-url": {
        "error": {"message": "Invalid URL (POST /v1/images/generations)", "type": "invalid_request_error"}
    },
    "framework": {"detail": "Not Found"},
}
#: Whose request URL names the model: a 404 in their API's words is about it.
MODEL_IN_PATH = {"replicate", "stability"}


def answering(body: dict[str, object]) -> Starlette:
    async def everything(request: Request) -> Response:
        return JSONResponse(body, status_code=404)

    return Starlette(routes=[Route("/{path:path}", everything, methods=["GET", "POST", "PUT"])])


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("answer", ADDRESS_404S)
def test_a_404_naming_no_model_is_the_provider_away(adapter: str, answer: str) -> None:
    build, model = ADAPTERS[adapter]
    with serve(answering(ADDRESS_404S[answer])) as fake:
        result = AdapterRunner(build, model)(fake.url)
    if adapter in MODEL_IN_PATH:
        assert result.outcome is Outcome.MODEL_NOT_FOUND, result
    else:
        assert result.outcome is Outcome.UNAVAILABLE, result
        assert "names no model" in result.message


@pytest.mark.parametrize("adapter", sorted(set(ADAPTERS) - MODEL_IN_PATH))
def test_a_404_naming_the_model_still_parks_it(adapter: str) -> None:
    build, model = ADAPTERS[adapter]
    said = {"error": {"message": f"The model `{model}` does not exist or you do not have access to it."}}
    with serve(answering(said)) as fake:
        result = AdapterRunner(build, model)(fake.url)
    assert result.outcome is Outcome.MODEL_NOT_FOUND, result
