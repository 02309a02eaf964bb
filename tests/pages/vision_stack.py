"""`sentinel serve` with two vision judges on fake model endpoints: `eye-talker` answers with reasoning written
over several lines, `eye-refuser` is a model that declines (its judge abstains). Shared by the page tests and the
browser layout tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.conftest import clean_env, start_server
from tests.judges.test_vision_judges import ASKS, GOOD, KEY, offline_judges, rubric_file, vision_judge_file

REVIEWER = ("vera", "vera-key-0123456789abcdef")
#: What the talking judge says about the criterion it fails: three lines, as a model writes them.
LINES = ["The handle is melted into the body.", "The rim is doubled on the left.", "Reject: the product is warped."]


@contextmanager
def vision_stack(tmp: Path) -> Iterator[str]:
    talker = VisionScript(
        api_key=KEY, verdicts={"product-intact": False}, reasoning={"product-intact": "\n".join(LINES)}
    )
    refuser = VisionScript(api_key=KEY, default="refusal")
    with ExitStack() as stack:
        judges, rubrics = tmp / "judges", tmp / "rubrics"
        judges.mkdir()
        rubrics.mkdir()
        offline_judges(judges)
        for name, script in (("eye-talker", talker), ("eye-refuser", refuser)):
            vision_judge_file(judges, name, stack.enter_context(serve(chat.create_app(script))).url)
        rubric_file(rubrics, escalate=False)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_JUDGES_DIR=str(judges),
            SENTINEL_RUBRICS_DIR=str(rubrics),
            SENTINEL_TEST_VISION_KEY=KEY,
            SENTINEL_REVIEWER_KEYS=":".join(REVIEWER),
        )
        server, base = start_server(env, tmp / "api.log")
        try:
            yield base
        finally:
            server.stop()


def evaluate(base: str) -> dict:
    """A product photo judged by the panel: the talker objects, the refuser abstains."""
    created = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "product-vision", "params": '{"prompt": "a coffee cup"}'},
        files={"image": ("cup.jpg", GOOD)},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    done = httpx.get(f"{base}/v1/evaluations/{created.json()['id']}?wait=30", timeout=40).json()
    assert done["status"] == "done", done
    return done


__all__ = ["ASKS", "LINES", "REVIEWER", "evaluate", "vision_stack"]
