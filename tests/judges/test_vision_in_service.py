"""Vision judges inside `sentinel serve`: one message per evaluation, escalation decided by the finaliser, usage
stored with each vote, and the API key nowhere in logs, rows, API answers or review pages."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from sentinel_fakes import anthropic, chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.conftest import FIXTURES, SENTINEL, clean_env, start_server
from tests.judges.test_vision_judges import GOOD, KEY, offline_judges, rubric_file, vision_judge_file
from tests.pages.login import log_in

REVIEWER_KEY = "reviewer-key-0123456789"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[str, list[VisionScript], Path]]:
    tmp = tmp_path_factory.mktemp("vision-service")
    scripts = [
        VisionScript(api_key=KEY),
        VisionScript(api_key=KEY, models={"claude-sonnet-4-5"}),
        VisionScript(api_key=KEY),
    ]
    apps = [chat.create_app(scripts[0]), anthropic.create_app(scripts[1]), chat.create_app(scripts[2])]
    with ExitStack() as stack:
        urls = [stack.enter_context(serve(app)).url for app in apps]
        judges, rubrics = tmp / "judges", tmp / "rubrics"
        judges.mkdir()
        rubrics.mkdir()
        offline_judges(judges)
        vision_judge_file(judges, "eye-openai", urls[0])
        vision_judge_file(judges, "eye-anthropic", urls[1], api="anthropic")
        vision_judge_file(judges, "eye-escalation", urls[2], escalate=True)
        rubric_file(rubrics)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_JUDGES_DIR=str(judges),
            SENTINEL_RUBRICS_DIR=str(rubrics),
            SENTINEL_TEST_VISION_KEY=KEY,
            SENTINEL_REVIEWER_KEYS=f"vera:{REVIEWER_KEY}",
        )
        server, base = start_server(env, tmp / "api.log")
        try:
            yield base, scripts, tmp
        finally:
            server.stop()


def evaluate(base: str) -> dict:
    created = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "product-vision", "params": '{"prompt": "a coffee cup"}'},
        files={"image": ("cup.jpg", GOOD)},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    return httpx.get(f"{base}/v1/evaluations/{created.json()['id']}?wait=30", timeout=40).json()


def test_agreeing_judges_leave_the_escalation_judge_out(stack) -> None:
    base, scripts, _ = stack
    for script in scripts:
        script.verdicts = {}
    done = evaluate(base)
    assert done["verdict"] == "green", done["summary"]
    assert done["escalation"]["asked"] == []
    assert {j["judge"] for j in done["judges"]} == {"layout", "pixels", "eye-anthropic", "eye-openai"}
    assert scripts[2].requests == []


def test_a_disagreement_brings_in_the_escalation_judge_and_every_vote_keeps_its_usage(stack) -> None:
    base, scripts, _ = stack
    scripts[0].verdicts = {"no-artifacts": False}
    scripts[0].reasoning = {"no-artifacts": "six fingers on the hand holding the cup"}
    scripts[1].verdicts = {}
    scripts[2].verdicts = {"no-artifacts": False}
    asked_before = len(scripts[2].requests)
    done = evaluate(base)
    assert done["verdict"] == "red", done["summary"]
    assert len(scripts[2].requests) == asked_before + 1
    assert done["escalation"]["asked"] == ["eye-escalation"]
    assert "eye-openai failed" in done["escalation"]["reason"]
    assert "six fingers on the hand holding the cup" in done["summary"]
    by_judge = {j["judge"]: j for j in done["judges"]}
    for name in ("eye-openai", "eye-anthropic", "eye-escalation"):
        usage = by_judge[name]["usage"]
        assert usage["calls"] == 1 and usage["input_tokens"] > 0 and usage["cost"] > 0
    assert "usage" not in by_judge["pixels"]


def test_the_api_key_is_nowhere_to_be_found(stack) -> None:
    base, scripts, tmp = stack
    scripts[0].verdicts = {"product-intact": False}
    scripts[1].verdicts = {}
    scripts[2].verdicts = {}
    done = evaluate(base)
    assert done["verdict"] == "amber", done["summary"]
    with httpx.Client(base_url=base) as browser:
        log_in(browser, REVIEWER_KEY)
        pages = [browser.get("/review").text, browser.get(f"/evaluations/{done['id']}").text]
    assert "eye-openai" in pages[0] and "product-intact" in pages[0]
    answers = [httpx.get(f"{base}/v1/evaluations/{done['id']}").text, httpx.get(f"{base}/v1/review").text]
    stored = [path.read_bytes() for path in (tmp / "data").rglob("*") if path.is_file()]
    log = (tmp / "api.log").read_text()
    for text in [*pages, *answers, log]:
        assert KEY not in text
    for blob in stored:
        assert KEY.encode() not in blob
    # The key's tail is the part people paste into issues; it must not be there either.
    assert not any(re.search("SECRET", text) for text in [*pages, *answers, log])


def test_judges_test_shows_the_raw_prompt_reply_and_vote(stack) -> None:
    _, scripts, tmp = stack
    scripts[0].verdicts = {"no-artifacts": False}
    scripts[0].reasoning = {"no-artifacts": "the saucer has two handles"}
    image = FIXTURES / "product-white-background" / "good.jpg"
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp / "cli-data"),
        SENTINEL_JUDGES_DIR=str(tmp / "judges"),
        SENTINEL_RUBRICS_DIR=str(tmp / "rubrics"),
        SENTINEL_TEST_VISION_KEY=KEY,
        COLUMNS="200",
    )
    command = [SENTINEL, "judges", "test", "eye-openai", str(image), "--task", "product-vision", "-p", "prompt=a cup"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert "request 1" in output and '"role": "system"' in output
    assert "- id: no-artifacts" in output  # the rendered prompt, as sent
    assert "KiB of base64 image data" in output  # the image is elided, not dumped
    assert "reply 1 (200)" in output and "the saucer has two handles" in output
    assert "eye-openai failed" in output
    assert KEY not in output + result.stderr

    unknown = subprocess.run([*command[:3], "nobody", *command[4:]], env=env, capture_output=True, text=True)
    assert unknown.returncode == 2 and "no judge named 'nobody'" in unknown.stderr
