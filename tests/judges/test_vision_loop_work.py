"""What a vision call costs the event loop every call of a process waits on: the image's base64 text made once, on
the thread that prepares the image, and sent as it is (never copied into each call's JSON); the system prompt
rendered once per rubric and parameters. The requests stay exactly what the APIs are sent."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.vision import judge as vision_judge
from sentinel.evaluation.vision.judge import encode_body, encode_body_parts
from sentinel.evaluation.vision.wire import ImagePart
from sentinel_fakes import anthropic, chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.judges.test_vision_judges import GOOD, KEY, context, one_judge


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)


@pytest.fixture
def openai_fake() -> Iterator[tuple[str, VisionScript]]:
    script = VisionScript(api_key=KEY)
    with serve(chat.create_app(script)) as server:
        yield server.url, script


@pytest.fixture
def anthropic_fake() -> Iterator[tuple[str, VisionScript]]:
    script = VisionScript(api_key=KEY, models={"claude-sonnet-4-5"})
    with serve(anthropic.create_app(script)) as server:
        yield server.url, script


def variant(seed: int) -> bytes:
    """GOOD with one pixel changed: an image new to the process, so no prepared part is found for it."""
    picture = Image.open(io.BytesIO(GOOD)).convert("RGB")
    picture.putpixel((seed % picture.width, 1), (seed % 256, 13, 17))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def test_an_images_text_is_spliced_into_the_request_as_the_part_holds_it() -> None:
    """The request is byte for byte the compact JSON of the body with each image's text in place, and the text is
    handed over as the part's own bytes: no call copies it."""
    part = ImagePart("the image to judge", "image/png", data=b"\x89PNG" + bytes(range(256)) * 300)
    openai_text, anthropic_text = part.data_url(), part.base64_text
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": 'Judge «é» "quoted" \\ tab\t'},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": openai_text}}, {"text": "x"}]},
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": anthropic_text}}]},
        ],
        "n": 1.5,
    }
    parts = encode_body_parts(body)
    assert b"".join(parts) == compact(body)
    assert json.loads(b"".join(parts))["messages"][1]["content"][0]["image_url"]["url"] == (
        "data:image/png;base64," + base64.b64encode(part.data or b"").decode()
    )
    assert sum(piece is part.base64 for piece in parts) == 2
    # A prompt that holds the encoder's own mark is encoded whole, still exactly.
    marked = {**body, "system": vision_judge._IMAGE_MARK}
    assert encode_body(marked) == compact(marked)


def test_the_event_loop_never_base64_encodes_an_image(tmp_path, monkeypatch, openai_fake, anthropic_fake) -> None:
    """Both APIs get the image's exact bytes, encoded once per image by the thread that prepared it (on the loop,
    each photo's encoding held up every call in flight for ~0.5 ms)."""
    encoded_on: list[str] = []
    original = base64.b64encode

    def noting(data: bytes, *args: Any) -> bytes:
        encoded_on.append(threading.current_thread().name)
        return original(data, *args)

    monkeypatch.setattr(base64, "b64encode", noting)
    for (url, script), api in ((openai_fake, "openai"), (anthropic_fake, "anthropic")):
        folder = tmp_path / api
        folder.mkdir()
        panel, rubric = one_judge(folder, url, api)
        image = variant(3 if api == "openai" else 4)
        encoded_on.clear()
        vote = panel.vision["eye"].vote(rubric, context(image))
        assert vote.passed is True, vote.reasoning
        assert encoded_on and all(name.startswith("vision-prepare") for name in encoded_on), encoded_on
        [request] = script.requests
        content = request["body"]["messages"][-1]["content"]
        if api == "openai":
            [sent] = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
            assert sent == "data:image/jpeg;base64," + original(image).decode()
        else:
            [sent] = [p["source"] for p in content if p["type"] == "image"]
            assert sent == {"type": "base64", "media_type": "image/jpeg", "data": original(image).decode()}


class CountingTemplate:
    def __init__(self, template: Any) -> None:
        self.template = template
        self.renders = 0

    def render(self, *args: Any, **kwargs: Any) -> str:
        self.renders += 1
        return self.template.render(*args, **kwargs)


def test_a_judge_renders_its_prompt_once_per_rubric_and_parameters(tmp_path, openai_fake) -> None:
    """The evaluations of a task share their prompt: rendered for the first, the same text sent for the others;
    other parameters (or the same in another order, which the prompt lists in order) get a prompt of their own."""
    url, script = openai_fake
    panel, rubric = one_judge(tmp_path, url)
    judge = panel.vision["eye"]
    counting = CountingTemplate(judge.template)
    judge.template = counting  # type: ignore[assignment]

    def with_params(image: bytes, params: dict[str, Any]) -> JudgeContext:
        source = context(image).image
        return JudgeContext(image=ImageSource(source.sha256, source.mime, lambda: image, 40_000_000), params=params)

    prompts = []
    for seed, params in enumerate(
        [
            {"prompt": "a coffee cup"},
            {"prompt": "a coffee cup"},
            {"prompt": "a teapot"},
            {"prompt": "a teapot", "size": "large"},
            {"size": "large", "prompt": "a teapot"},
        ]
    ):
        vote = judge.vote(rubric, with_params(variant(10 + seed), params))
        assert vote.passed is True, vote.reasoning
        prompts.append(script.requests[-1]["body"]["messages"][0]["content"])
    assert counting.renders == 4
    assert prompts[0] == prompts[1] and '"a coffee cup"' in prompts[0]
    assert '"a teapot"' in prompts[2] and prompts[2] != prompts[0]
    assert prompts[3] != prompts[4] and prompts[3].index("prompt:") < prompts[3].index("size:")
    assert prompts[4].index("size:") < prompts[4].index("prompt:")


def test_the_text_judge_and_the_scan_for_instructions_read_an_image_once(monkeypatch) -> None:
    """A panel with a text judge and vision judges reads each image's words once, whichever asks first: the text
    judge's check on its context and the scan on a vision judge's own context share the page (and both see the
    instruction written in it)."""
    from sentinel.evaluation.judges import text
    from sentinel.evaluation.vision import injection
    from tests.judges.test_vision_judges import injection_image

    reads: list[int] = []
    original = text.read_words
    monkeypatch.setattr(text, "read_words", lambda *a, **k: reads.append(1) or original(*a, **k))
    check = text.kind.checks["no_stray_text"]
    written = Image.open(io.BytesIO(injection_image())).convert("RGB")
    for seed, text_judge_first in ((21, True), (22, False)):
        written.putpixel((seed, 300), (seed, 5, 9))
        buffer = io.BytesIO()
        written.save(buffer, "PNG")
        image = buffer.getvalue()
        reads.clear()
        outcomes = []
        for step in ("text", "scan") if text_judge_first else ("scan", "text"):
            if step == "text":
                outcomes.append(check.run(context(image), check.settings_model()).passed)
            else:
                outcomes.append(injection.scan(context(image)))
        assert reads == [1], (text_judge_first, reads)
        found = outcomes[1] if text_judge_first else outcomes[0]
        assert found is not None and "IGNORE PREVIOUS" in found.upper()
        assert False in outcomes  # the text judge saw the stray words too


def test_a_result_computed_across_a_clear_is_handed_over_not_remembered() -> None:
    """``clear`` (tests run it between pictures) forgets the computations running too: their callers get their
    results, and the next caller computes afresh instead of finding a result from before the clear."""
    import concurrent.futures

    from sentinel.evaluation.vision.shared import SharedWork

    work: SharedWork[str, int] = SharedWork(10)
    started, release = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait()
        return 1

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = work.submit("page", slow, pool)
        started.wait()
        work.clear()
        release.set()
        assert first.result() == 1
    assert work.ready("page") is None
    assert work.get("page", lambda: 2) == 2
    assert work.computed == 2
