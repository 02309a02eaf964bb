"""Which tasks a job's re-run reads instead of buying again, and what happens when one cannot be read.

A call whose worker died after the provider made its task (a Replicate prediction) leaves the task's address on its
row; the run that takes the attempt over reads that task first. Only a task of the same candidate, on the provider's
own API host, recent enough for the provider to keep its result, is read; one that cannot be read (gone, expired) is
bought again, as before tasks were kept. Against the fake Replicate API on 127.0.0.1, through the router."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sentinel.generation.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.calls import InFlightCalls
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.replicate import ReplicateProvider
from sentinel.providers.router import RESUMED, ImageSpec, Router, RouteResult, TaskUnderWay
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel_fakes.replicate import create_app
from sentinel_fakes.server import Script, serve

MODEL = "black-forest-labs/flux-schnell"
#: The row the dead worker's call left (no row of this test's call log has that id).
LEFT_ROW = 10_000


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.setenv("FAKE_KEY", "r8-test-left-under-way")
    built = build_services(Settings(data_dir=tmp_path, fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")]))
    yield built
    built.engine.dispose()


@pytest.fixture
def replicate() -> Iterator[tuple[str, Script]]:
    script = Script()
    with serve(create_app(script)) as server:
        yield server.url, script


def routing(base: str) -> RoutingConfig:
    provider = {"kind": "replicate", "base_url": base, "api_key_env": "FAKE_KEY", "poll_interval_seconds": 0.02}
    return RoutingConfig.model_validate(
        {
            "providers": {"replicate": provider},
            "models": {"images": {"candidates": [{"target": f"replicate:{MODEL}"}]}},
            "default_model": "images",
        }
    )


def generate(services: Services, base: str, left: list[TaskUnderWay]) -> RouteResult:
    """One job attempt's walk over the fake, with ``left`` the tasks an earlier run of it left under way."""
    config = routing(base)

    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), services.settings)
            journal = InFlightCalls(services.engine, f"job:{uuid.uuid4().hex[:8]}:0:1", "images", left)
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a kite"), journal=journal)

    return asyncio.run(go())


def created(script: Script) -> int:
    return sum(1 for r in script.requests if r["method"] == "POST" and str(r["path"]).endswith("/predictions"))


def polled(script: Script) -> list[str]:
    return [str(r["path"]) for r in script.requests if r["method"] == "GET" and "/v1/predictions/" in str(r["path"])]


def a_prediction(base: str) -> str:
    """The get URL of a prediction made (and paid for) at the fake at ``base``, as a dead worker would leave it."""
    headers = {"Authorization": "Bearer r8-test-left-under-way"}
    answer = httpx.post(f"{base}/v1/models/{MODEL}/predictions", json={"input": {"prompt": "a kite"}}, headers=headers)
    return str(answer.json()["urls"]["get"])


def left(task: str, *, model: str = MODEL, age_seconds: float = 5.0) -> TaskUnderWay:
    return TaskUnderWay(LEFT_ROW, "replicate", model, task, age_seconds)


def test_a_task_left_under_way_is_read_and_not_bought_again(services: Services, replicate: tuple[str, Script]) -> None:
    base, script = replicate
    task = a_prediction(base)

    result = generate(services, base, [left(task)])

    assert result.image is not None
    assert created(script) == 1  # the dead worker's, and no other
    [call] = result.attempts
    assert (call.outcome, call.in_flight_id) == ("ok", LEFT_ROW) and RESUMED in call.message


def test_a_task_gone_at_the_provider_is_bought_again(services: Services, replicate: tuple[str, Script]) -> None:
    base, script = replicate

    result = generate(services, base, [left(f"{base}/v1/predictions/gone0000000000000000000000")])

    assert result.image is not None
    assert polled(script)[0] == "/v1/predictions/gone0000000000000000000000"
    assert created(script) == 1
    [call] = result.attempts
    assert call.outcome == "ok" and call.in_flight_id != LEFT_ROW and RESUMED not in call.message


def test_a_task_on_another_host_is_never_polled(services: Services, replicate: tuple[str, Script]) -> None:
    base, script = replicate
    other_script = Script()
    with serve(create_app(other_script)) as other:
        # Another deployment's (or another key's provider account's) prediction: our token is never sent there.
        foreign = a_prediction(other.url)
        other_script.requests.clear()

        result = generate(services, base, [left(foreign)])

    assert other_script.requests == []
    assert result.image is not None and created(script) == 1


@pytest.mark.parametrize("which", ["another model", "too old"])
def test_a_task_of_another_candidate_or_past_the_providers_keeping_is_bought_again(
    services: Services, replicate: tuple[str, Script], which: str
) -> None:
    base, script = replicate
    task = a_prediction(base)
    script.requests.clear()
    if which == "another model":
        under_way = left(task, model="black-forest-labs/flux-dev")
    else:
        under_way = left(task, age_seconds=ReplicateProvider.resumable_seconds + 1)

    result = generate(services, base, [under_way])

    prediction_id = task.rsplit("/", 1)[1]
    assert not any(prediction_id in path for path in polled(script)), polled(script)
    assert result.image is not None and created(script) == 1
