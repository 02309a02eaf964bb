"""A job does not ask again, in a later attempt, a candidate whose call timed out after its request went out (outside
probe P2-F6): the provider may still make, and bill, that image, so each re-ask may pay again (a lone hanging
candidate made 9 billed calls for one SDK call: 3 attempts, times the SDK's 3 tries). With no other candidate the job
fails after that one call, and the judged request's 504 tells the SDK not to retry (``x-should-retry: false``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server

#: The provider's time limit; the fake's "slow" answers come well after it.
TIMEOUT_SECONDS = 1


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Any]:
    """``serving(*scripts)``: a server whose model ``house`` walks fake OpenAI providers with these scripts, in
    order."""
    stack: list[Any] = []
    processes: list[Any] = []

    def start(*scripts: Script) -> str:
        urls = []
        for script in scripts:
            server = serve(create_app(script))
            urls.append(server.__enter__().url)
            stack.append(server)
        configured = {
            f"p{i}": {
                "kind": "openai",
                "base_url": f"{url}/v1",
                "api_key_env": "FAKE_KEY",
                "timeout_seconds": TIMEOUT_SECONDS,
            }
            for i, url in enumerate(urls)
        }
        candidates = [{"target": f"p{i}:gpt-image-1", "cost_per_image": 0.04} for i in range(len(urls))]
        routes = {"providers": configured, "models": {"house": {"candidates": candidates}}, "default_model": "house"}
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes | {"max_passes": 1}))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(tmp_path / "routes.yaml"), FAKE_KEY="sk-fake"
        )
        process, base = start_server(env, tmp_path / "serve.log")
        processes.append(process)
        return base

    yield start
    for process in processes:
        process.stop()
    for server in reversed(stack):
        server.__exit__(None, None, None)


def run_job(base: str) -> dict[str, Any]:
    body = {"task": "product-white-background", "prompt": "a red mug on a white background", "max_attempts": 3}
    created = httpx.post(f"{base}/v1/jobs", json=body, timeout=30)
    assert created.status_code == 202, created.text
    read = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=60", timeout=70)
    assert read.status_code == 200, read.text
    return read.json()


def hanging() -> Script:
    return Script(default="slow", slow_seconds=TIMEOUT_SECONDS + 4)


def test_a_lone_candidate_that_timed_out_after_its_request_went_out_is_asked_once(serving) -> None:
    slow = hanging()
    job = run_job(serving(slow))
    assert job["state"] == "failed", repr((job["reason"], job["attempts"]))
    assert len(slow.requests) == 1
    [attempt] = job["attempts"]
    assert attempt["failure"] == "timeout"
    assert attempt["unchanging"] is True


def test_a_later_attempt_skips_the_timed_out_candidate_and_asks_the_others(serving) -> None:
    slow, away = hanging(), Script(default="unavailable")
    job = run_job(serving(slow, away))
    assert job["state"] == "failed", repr((job["reason"], job["attempts"]))
    assert len(job["attempts"]) == 3, job["attempts"]
    # The provider that was away may be back at the next attempt: asked each time. The one given up on after its
    # request went out (it may bill that image): once.
    assert len(away.requests) == 3
    assert len(slow.requests) == 1


def test_a_judged_request_whose_lone_candidate_timed_out_is_not_retried_by_the_sdk(serving) -> None:
    slow = hanging()
    base = serving(slow)
    sent: list[httpx.Request] = []
    http_client = httpx.Client(event_hooks={"request": [sent.append]}, timeout=120)
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=2, http_client=http_client)
    with http_client, pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(
            prompt="a red mug on a white background",
            extra_body={"sentinel": {"task": "product-white-background", "max_attempts": 3}},
        )
    error = caught.value
    assert error.status_code == 504
    assert error.response.headers["x-should-retry"] == "false"
    assert len(sent) == 1
    assert len(slow.requests) == 1
