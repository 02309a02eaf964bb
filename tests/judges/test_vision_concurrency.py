"""Vision judges under concurrency: many calls in flight on one process, and the work on an image (the OCR scan for
instructions to the judges, the image as sent) done once for all the judges of an evaluation."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from PIL import Image

from sentinel.evaluation.judges import text
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.vision.judge import encode_body
from sentinel.rubrics.loader import load_rubric
from sentinel.settings import get_settings
from sentinel.worker.loop import run_async
from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.judges.test_vision_judges import (
    GOOD,
    KEY,
    context,
    injection_image,
    one_judge,
    rubric_file,
    vision_judge_file,
)


def variant(seed: int, image: bytes = GOOD) -> bytes:
    """``image`` with one pixel changed: a new image to the process (its hash is new), so no cache knows it."""
    picture = Image.open(io.BytesIO(image)).convert("RGB")
    picture.putpixel((seed % picture.width, 0), (seed % 256, 7, 11))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)


@pytest.fixture
def settings_from_env() -> Iterator[None]:
    """Settings read again from the environment a test changes, and again after it restores it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def slow_fake() -> Iterator[tuple[str, VisionScript]]:
    script = VisionScript(api_key=KEY, default="slow", slow_seconds=1.5)
    with serve(chat.create_app(script)) as server:
        yield server.url, script


def test_forty_calls_are_in_flight_at_once_on_one_process(tmp_path, slow_fake) -> None:
    """More calls at once than one HTTP connection pool used to hold (32): none waits for another's answer."""
    url, script = slow_fake
    panel, rubric = one_judge(tmp_path, url, timeout_seconds=30)
    judge = panel.vision["eye"]

    async def forty() -> list[bool | None]:
        votes = await asyncio.gather(*(judge.vote_async(rubric, context(GOOD)) for _ in range(40)))
        return [vote.passed for vote in votes]

    assert run_async(forty()) == [True] * 40
    assert script.most_at_once == 40


def test_the_judges_of_one_image_scan_it_once_when_they_ask_together(tmp_path, monkeypatch) -> None:
    """Three judges of one evaluation, each with a context of its own, asking at the same moment: one OCR read."""
    reads: list[int] = []
    original = text.read_words

    def counted(*args, **kwargs):
        reads.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(text, "read_words", counted)
    scripts = [VisionScript(api_key=KEY) for _ in range(3)]
    judges = tmp_path / "judges"
    judges.mkdir()
    with ExitStack() as stack:
        for index, script in enumerate(scripts):
            vision_judge_file(judges, f"eye-{index}", stack.enter_context(serve(chat.create_app(script))).url)
        panel = Panel.from_dir(judges)
        rubric = load_rubric(rubric_file(tmp_path))
        image = variant(1)

        async def together() -> list[bool | None]:
            calls = [panel.vision[f"eye-{i}"].vote_async(rubric, context(image)) for i in range(3)]
            return [vote.passed for vote in await asyncio.gather(*calls)]

        assert run_async(together()) == [True, True, True]
    assert len(reads) == 1
    # ... and the three judges sent the same image.
    sent = [script.requests[0]["body"]["messages"][1]["content"][1]["image_url"]["url"] for script in scripts]
    assert sent[0] == sent[1] == sent[2]


def test_with_the_scan_off_a_pass_is_believed_whatever_the_image_says(tmp_path, monkeypatch, settings_from_env) -> None:
    """SENTINEL_VISION_INSTRUCTION_SCAN=false: no OCR read, and the model's pass on an image that talks to its
    judges stands (on, the same pass is withheld: test_instructions_written_in_the_image_do_not_flip_a_failing_vote)."""
    monkeypatch.setenv("SENTINEL_VISION_INSTRUCTION_SCAN", "false")
    reads: list[int] = []
    original = text.read_words
    monkeypatch.setattr(text, "read_words", lambda *a, **k: reads.append(1) or original(*a, **k))
    script = VisionScript(api_key=KEY)
    with serve(chat.create_app(script)) as server:
        panel, rubric = one_judge(tmp_path, server.url)
        vote = panel.vision["eye"].vote(rubric, context(variant(2, injection_image())))
    assert vote.passed is True
    assert reads == []


def test_a_request_is_the_compact_json_httpx_would_send() -> None:
    """The bytes sent are exactly the compact JSON of the whole body (non-ASCII kept, quotes and controls escaped),
    wherever the image stands and however often it is sent."""
    image = "data:image/png;base64," + "QUJD" * 20_000
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": 'Judge: «é» "quoted" \\ and a tab\t'},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}, {"text": image[:10]}]},
        ],
        "n": 1.5,
        "flag": None,
    }
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert encode_body(body) == expected
    assert encode_body(body) == expected
    assert json.loads(encode_body({"a": [image, image]})) == {"a": [image, image]}


def test_each_instruction_scan_hands_the_memory_it_freed_back(monkeypatch) -> None:
    """The scans' threads trim the C heap after every scan, failed or not: a burst of photos scanned one after another
    otherwise kept hundreds of MB of freed OCR buffers."""
    from sentinel.evaluation.vision import judge

    trims: list[int] = []
    monkeypatch.setattr(judge, "release_to_os", lambda: trims.append(1))
    threads = judge._TrimmingThreads(1)
    try:
        assert threads.submit(lambda x: x * 2, 21).result() == 42
        failed = threads.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failed.result()
    finally:
        threads.shutdown()
    assert trims == [1, 1]
