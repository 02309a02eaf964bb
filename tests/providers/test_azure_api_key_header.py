"""Azure OpenAI takes its key as ``api-key: <key>``, never as ``Authorization: Bearer``: an ``openai`` provider, and a
vision judge on an OpenAI-style endpoint, say so with ``auth_header: api-key``. Without it every call to Azure was
refused 401 and no configuration could fix it. The setting is checked on load (file, line and field named), and the
key stays out of every error, as with a Bearer key. Against the fake OpenAI image and chat servers behind an
Azure-style front on 127.0.0.1 that answers 401 to a Bearer key and serves only ``api-key``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sentinel.errors import ConfigError
from sentinel.evaluation.panel import Panel
from sentinel.generation.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.config import RoutingConfig, load_routing
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.listing import Availability, check_candidates
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.rubrics.loader import load_rubric
from sentinel.settings import Settings
from sentinel_fakes import chat
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from sentinel_fakes.vision import VisionScript
from tests.judges.test_vision_judges import rubric_file, vision_judge_file, vote_of
from tests.providers.azure_front import API_VERSION, AzureFront

KEY = "azure-key-0123456789abcdefSECRET"


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_KEY", KEY)
    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)


@pytest.fixture
def azure_images() -> Iterator[tuple[str, AzureFront]]:
    front = AzureFront(create_app(Script()), KEY)
    with serve(front) as server:  # type: ignore[arg-type]
        yield f"{server.url}/openai/deployments/gpt-image-1?api-version={API_VERSION}", front


def routing(base_url: str, **provider: Any) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {
            "providers": {"azure": {"kind": "openai", "base_url": base_url, "api_key_env": "AZURE_KEY", **provider}},
            "models": {"images": {"candidates": [{"target": "azure:gpt-image-1"}], "cost_per_image": 0.04}},
            "default_model": "images",
        }
    )


def walk(config: RoutingConfig) -> RouteResult:
    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), Settings())
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a lighthouse"))

    return asyncio.run(go())


def test_an_azure_deployment_serves_an_openai_provider_that_sends_its_key_as_api_key(azure_images) -> None:
    base_url, front = azure_images
    result = walk(routing(base_url, auth_header="api-key"))

    assert result.image is not None
    [call] = front.seen
    assert call["path"] == "/openai/deployments/gpt-image-1/images/generations"
    assert (call["api-key"], call["authorization"]) == (KEY, None)


def test_without_it_azure_refuses_the_bearer_key_and_the_refusal_never_carries_the_key(azure_images) -> None:
    base_url, front = azure_images
    result = walk(routing(base_url))

    assert result.image is None
    assert result.last_failure is not None and result.last_failure.status_code == 401
    assert front.seen[0]["authorization"] == f"Bearer {KEY}"
    for said in [result.last_failure.message, *(attempt.message for attempt in result.attempts)]:
        assert "Access denied" in said
        assert KEY not in said and "SECRET" not in said


def test_the_doctor_listing_of_an_azure_deployment_sends_the_key_as_api_key(azure_images) -> None:
    base_url, front = azure_images
    config = routing(base_url, auth_header="api-key")

    async def go() -> list:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            return await check_candidates(config, client)

    [check] = asyncio.run(go())
    assert check.state is Availability.LISTED, check.detail
    assert front.seen[0]["path"] == "/openai/deployments/gpt-image-1/models"
    assert front.seen[0]["api-key"] == KEY


ROUTES = """\
providers:
  azure:
    kind: {kind}
    base_url: "https://example.openai.azure.com/openai/deployments/gpt-image-1"
    api_key_env: AZURE_KEY
    auth_header: {auth_header}
models:
  images:
    candidates:
      - target: "azure:{model}"
default_model: images
"""


@pytest.mark.parametrize(
    ("kind", "auth_header", "model", "words"),
    [
        ("openai", "Bearer", "gpt-image-1", "'authorization' or 'api-key'"),
        ("stability", "api-key", "sd3.5-large", "is for an `openai` provider"),
    ],
)
def test_an_auth_header_no_call_could_use_is_refused_on_load_naming_the_line(
    tmp_path: Path, kind: str, auth_header: str, model: str, words: str
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.format(kind=kind, auth_header=auth_header, model=model))
    with pytest.raises(ConfigError) as refused:
        load_routing(path)
    said = str(refused.value)
    assert f"{path}:6: providers.azure.auth_header" in said
    assert words in said


def test_the_default_auth_header_leaves_the_routing_fingerprint_as_it_was() -> None:
    # Parked candidates are filed under the fingerprint: a new default must not unpark every deployment's.
    plain = routing("https://api.openai.com/v1")
    assert plain.fingerprint == routing("https://api.openai.com/v1", auth_header="authorization").fingerprint
    assert plain.fingerprint != routing("https://api.openai.com/v1", auth_header="api-key").fingerprint


@pytest.fixture
def azure_chat() -> Iterator[tuple[str, AzureFront]]:
    front = AzureFront(chat.create_app(VisionScript(api_key=KEY)), KEY)
    with serve(front) as server:  # type: ignore[arg-type]
        yield server.url, front


def azure_judge(tmp_path: Path, url: str, **options: Any) -> Any:
    judges = tmp_path / "judges"
    judges.mkdir(exist_ok=True)
    base = f"{url}/openai/deployments/gpt-4o?api-version={API_VERSION}"
    vision_judge_file(judges, "eye", url, options={"base_url": base, **options})
    panel = Panel.from_dir(judges)
    return vote_of(panel, load_rubric(rubric_file(tmp_path)))


def test_a_vision_judge_on_azure_votes_when_it_sends_its_key_as_api_key(tmp_path, azure_chat) -> None:
    url, front = azure_chat
    vote = azure_judge(tmp_path, url, auth_header="api-key")

    assert vote.passed is not None, vote.reasoning
    assert front.seen[0]["path"] == "/openai/deployments/gpt-4o/chat/completions"
    assert (front.seen[0]["api-key"], front.seen[0]["authorization"]) == (KEY, None)


def test_a_vision_judge_sending_a_bearer_key_to_azure_abstains_without_the_key(tmp_path, azure_chat) -> None:
    url, _ = azure_chat
    vote = azure_judge(tmp_path, url)

    assert vote.passed is None
    assert "refused the API key from SENTINEL_TEST_VISION_KEY (401" in vote.reasoning
    assert KEY not in vote.reasoning and "SECRET" not in vote.reasoning


def test_a_vision_judge_of_anthropic_cannot_take_the_azure_header(tmp_path, azure_chat) -> None:
    url, _ = azure_chat
    judges = tmp_path / "judges"
    judges.mkdir()
    vision_judge_file(judges, "eye", url, api="anthropic", options={"auth_header": "api-key"})
    text = (judges / "eye.yaml").read_text()
    line = next(number for number, said in enumerate(text.splitlines(), 1) if "auth_header" in said)
    with pytest.raises(ConfigError, match=rf"eye\.yaml:{line}: options\.auth_header: .*x-api-key"):
        Panel.from_dir(judges)
    assert yaml.safe_load(text)["options"]["auth_header"] == "api-key"
