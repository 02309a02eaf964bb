"""The OCR scan for instructions to the judges never holds a vision judge's vote past the judge's own limit: a vote
recorded late is lost, and the sweeper then asks (and the model is paid) again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from sentinel.evaluation.judges import text
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.vision import injection
from sentinel.rubrics.loader import load_rubric
from sentinel.worker.loop import run_async
from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.judges.test_vision_concurrency import variant
from tests.judges.test_vision_judges import ASKS, KEY, context, injection_image, rubric_file, vision_judge_file

UNFINISHED = "the check for instructions written in the image did not finish within the judge's 2 s limit"


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)


@pytest.fixture
def held_scans(monkeypatch) -> Iterator[threading.Event]:
    """Scans held back until the test sets the event, as a long queue of scans on a busy worker holds them."""
    release = threading.Event()
    monkeypatch.setattr(injection, "before_reading", lambda _sha: release.wait(60))
    try:
        yield release
    finally:
        release.set()


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    counted: list[int] = []
    original = text.read_words
    monkeypatch.setattr(text, "read_words", lambda *a, **k: counted.append(1) or original(*a, **k))
    return counted


def three_judges(tmp_path, stack: ExitStack, scripts: list[VisionScript]) -> Panel:
    judges = tmp_path / "judges"
    judges.mkdir(exist_ok=True)
    for index, script in enumerate(scripts):
        url = stack.enter_context(serve(chat.create_app(script))).url
        vision_judge_file(judges, f"eye-{index}", url, timeout_seconds=2)
    return Panel.from_dir(judges)


def test_a_pass_is_recorded_withheld_when_the_scan_outlasts_the_limit_and_the_model_is_asked_once(
    tmp_path, held_scans, reads
) -> None:
    """Three judges of an image that talks to them; its scan is stuck past their limit. Each vote comes back (it
    does not wait for the scan) with the model's pass withheld and why; each model was called once. The scan runs
    on, once, and a judge asking later gets its finding."""
    scripts = [VisionScript(api_key=KEY) for _ in range(3)]
    image = variant(11, injection_image())
    with ExitStack() as stack:
        panel = three_judges(tmp_path, stack, scripts)
        rubric = load_rubric(rubric_file(tmp_path))

        async def together():
            return await asyncio.gather(
                *(panel.vision[f"eye-{i}"].vote_async(rubric, context(image)) for i in range(3))
            )

        votes = run_async(together())
        assert [vote.passed for vote in votes] == [None, None, None]
        for vote in votes:
            assert vote.reasoning.startswith(f"abstained: {UNFINISHED}")
            # The model's passes are kept as it gave them; no finding is claimed for a scan that did not finish.
            assert {c["id"] for c in vote.criteria} == set(ASKS)
            assert all(c["passed"] for c in vote.criteria)
            assert vote.usage["calls"] == 1
        assert [script.received for script in scripts] == [1, 1, 1]

        # The scan was not dropped: let it finish, and the next vote on the image reads its finding at once.
        held_scans.set()
        assert injection.scan(context(image)) is not None
        later = panel.vision["eye-0"].vote(rubric, context(image))
    assert later.passed is None
    assert injection.INJECTION_CRITERION in {c["id"] for c in later.criteria}
    assert len(reads) == 1


def test_a_failure_stands_when_the_scan_outlasts_the_limit(tmp_path, held_scans) -> None:
    script = VisionScript(api_key=KEY, verdicts={"no-artifacts": False})
    with ExitStack() as stack:
        panel = three_judges(tmp_path, stack, [script])
        rubric = load_rubric(rubric_file(tmp_path))
        vote = panel.vision["eye-0"].vote(rubric, context(variant(12)))
    assert vote.passed is False
    assert UNFINISHED in vote.reasoning
    assert [c["id"] for c in vote.criteria if not c["passed"]] == ["no-artifacts"]
    assert script.received == 1


def test_a_photograph_without_text_is_not_read_by_the_scan(tmp_path, reads) -> None:
    """The scan's cheap look first: a plain photograph has no place that could hold an instruction's words."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 200, 220)).save(buffer, "PNG")
    assert injection.scan(context(buffer.getvalue())) is None
    assert reads == []
