"""The ``text`` judge: offline OCR (RapidOCR, PP-OCR models on ONNX Runtime) for expected, stray and new text.

RapidOCR was chosen over Tesseract by measurement: on twelve 1024² photographs carrying a
semi-transparent watermark or an opaque caption, Tesseract (sparse-text mode, plus top-hat passes)
found 4 of 9 overlays at ~250 ms; RapidOCR, with text detection at 480 px, found 9 of 9 at ~120 ms
and needs no system package (its models ship inside the wheel). Rotated text is handled by re-reading
at 90/270/180 degrees only when the expected text is not found upright.
"""

from __future__ import annotations

import queue
import re
import threading
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from pydantic import Field

from sentinel.evaluation.judges.base import Bands, CheckSettings, JudgeContext, JudgeKind, Outcome, region_name

kind = JudgeKind("text", "Offline OCR: the expected text is legible, and no stray, watermark or new text.")

#: OCR reads the image scaled so its longest side is at most this; text detection runs at DETECTION_SIDE.
OCR_SIDE = 1024
#: Longest side the text detector sees: watermarks of ~5% image height stay legible, and it costs ~4× less than 960.
DETECTION_SIDE = 480
#: Rotations tried, in order, when the expected text is not read upright.
ROTATIONS = (90, 270, 180)

#: OCR engines per process (each holds ~30 MB of models): two pages can be read at once, an edit's source and
#: result, or the pages of two evaluations in different worker threads.
OCR_ENGINES = 2

_engines: queue.LifoQueue[Any] = queue.LifoQueue()
_engines_made = 0
_making = threading.Lock()


def _new_engine() -> Any:
    # Each inference runs on one thread. ONNX Runtime's default pool (a thread per core, spinning while it
    # waits) measured here at 2-2.4× the CPU per page for the same words, and no faster on a page with text
    # (1024² sign: 146 ms wall and 291 ms CPU with the pool, 117 ms and 119 ms on one thread).
    from rapidocr import RapidOCR

    return RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Det.limit_side_len": DETECTION_SIDE,
            "Det.limit_type": "max",
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


@contextmanager
def _ocr_engine() -> Iterator[Any]:
    """An engine of this process's pool, made on first need (the warm one first), waited for when all are busy."""
    global _engines_made
    try:
        engine = _engines.get_nowait()
    except queue.Empty:
        with _making:
            make = _engines_made < OCR_ENGINES
            _engines_made += make
        engine = _new_engine() if make else _engines.get()
    try:
        yield engine
    finally:
        _engines.put(engine)


@dataclass(frozen=True)
class Word:
    """One line of text the OCR found, with its confidence (0-100) and bounding box."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class OcrPage:
    words: list[Word]
    width: int
    height: int
    rotation: int = 0


def read_words(rgb: np.ndarray, rotation: int = 0) -> OcrPage:
    """Every line of text in an RGB image (colour matters: red on green has no luminance contrast)."""
    if rotation:
        rgb = np.asarray(Image.fromarray(rgb).rotate(rotation, expand=True))
    height, width = rgb.shape[:2]
    with _ocr_engine() as engine:
        result = engine(rgb)
    words: list[Word] = []
    if result.boxes is not None:
        for polygon, text, score in zip(result.boxes, result.txts, result.scores, strict=False):
            xs, ys = polygon[:, 0], polygon[:, 1]
            box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
            if text.strip():
                words.append(Word(text.strip(), float(score) * 100, box))
    return OcrPage(words, width, height, rotation)


def _ocr_rgb(ctx: JudgeContext, which: str = "image") -> np.ndarray:
    def compute() -> np.ndarray:
        source = ctx.image if which == "image" else ctx.require(which)
        rgb = source.decode().rgb
        scale = OCR_SIDE / max(rgb.shape[:2])
        if scale >= 1:
            return rgb
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))

    return ctx.memo(f"ocr-rgb:{which}", compute)


def _page(ctx: JudgeContext, which: str = "image", rotation: int = 0) -> OcrPage:
    return ctx.memo(f"ocr:{which}:{rotation}", lambda: read_words(_ocr_rgb(ctx, which), rotation))


def normalise(text: str) -> str:
    """Case-folded, accents kept, every run of whitespace one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _compact(text: str) -> str:
    # OCR often drops or adds the space between words; spacing is not what a sign gets wrong.
    return re.sub(r"\s+", "", normalise(text))


def similarity(expected: str, read: str) -> float:
    """How well ``expected`` appears inside ``read``: 1 − edit distance of the best substring / its length.

    Case and whitespace are ignored; extra text around the expected text does not lower the score
    (that is the ``no_other_text`` check's business).
    """
    pattern, text = _compact(expected), _compact(read)
    if not pattern:
        return 0.0
    # Edit distance with a free start and end in ``text`` (approximate substring matching).
    previous = [0] * (len(text) + 1)
    for i, char in enumerate(pattern, 1):
        current = [i]
        for j, other in enumerate(text, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other)))
        previous = current
    return max(0.0, 1.0 - min(previous) / len(pattern))


def _reading_order(words: list[Word]) -> list[Word]:
    if not words:
        return []
    line_height = float(np.median([w.height for w in words])) or 1.0
    return sorted(words, key=lambda w: (round(w.box[1] / line_height), w.box[0]))


@dataclass(frozen=True)
class Match:
    score: float
    read: str
    words: tuple[Word, ...]
    page: OcrPage


def best_match(expected: str, page: OcrPage, min_confidence: float) -> Match:
    """The run of consecutive words (in reading order) that reads most like the expected text."""
    words = [w for w in _reading_order(page.words) if w.confidence >= min_confidence]
    target = normalise(expected)
    count = max(1, len(target.split(" ")))
    best = Match(0.0, "", (), page)
    for size in {max(1, count - 1), count, count + 1}:
        for start in range(max(0, len(words) - size + 1)):
            run = tuple(words[start : start + size])
            read = " ".join(w.text for w in run)
            score = similarity(target, read)
            if score > best.score:
                best = Match(score, read, run, page)
    return best


class ExpectedTextSettings(CheckSettings):
    text_param: str = "text"
    min_similarity: float = Field(1.0, gt=0, le=1, description="1.0 = exact after case and space normalisation")
    min_confidence: float = Field(30.0, ge=0, le=100, description="OCR confidence below which a word is ignored")


def _expected_match(ctx: JudgeContext, s: ExpectedTextSettings) -> Match:
    expected = str(ctx.params.get(s.text_param) or "")

    def compute() -> Match:
        best = best_match(expected, _page(ctx), s.min_confidence)
        for rotation in ROTATIONS:
            if best.score >= s.min_similarity:
                break
            candidate = best_match(expected, _page(ctx, rotation=rotation), s.min_confidence)
            if candidate.score > best.score:
                best = candidate
        return best

    return ctx.memo(f"expected-match:{s.text_param}:{s.min_confidence}", compute)


@kind.check(
    "expected_text",
    ExpectedTextSettings,
    fix='The image must show the text "{{ facts.expected }}" exactly as written, spelled and capitalised the same, '
    "large, legible and upright.",
)
def expected_text(ctx: JudgeContext, s: ExpectedTextSettings) -> Outcome:
    expected = str(ctx.params.get(s.text_param) or "")
    if not expected.strip():
        return Outcome(False, None, None, f"no expected text was given in param '{s.text_param}'")
    facts = {"expected": expected}
    match = _expected_match(ctx, s)
    where = f" (rotated {match.page.rotation}°)" if match.page.rotation and match.words else ""
    if match.score >= s.min_similarity:
        return Outcome(True, match.read, expected, f"OCR read '{match.read}'{where} as expected", facts=facts)
    if not match.read:
        detail = f"expected text '{expected}' is absent: OCR found no matching text"
        return Outcome(False, "", expected, detail, severity="severe", facts=facts)
    detail = (
        f"OCR read '{match.read}'{where}, expected '{expected}' "
        f"(similarity {match.score:.2f}, needs {s.min_similarity:.2f})"
    )
    return Outcome(False, match.read, expected, detail, facts=facts | {"read": match.read})


class StrayTextSettings(CheckSettings):
    min_confidence: float = Field(80.0, ge=0, le=100, description="OCR confidence (0-100) text needs to count")
    min_chars: int = Field(3, ge=1, le=50, description="letters or digits text needs to count")
    min_height_fraction: float = Field(
        0.0, ge=0, lt=1, description="words smaller than this share of the height are ignored"
    )


def _counted(words: list[Word], page_height: int, s: StrayTextSettings) -> list[Word]:
    return [
        w
        for w in words
        if w.confidence >= s.min_confidence
        and sum(c.isalnum() for c in w.text) >= s.min_chars
        and w.height >= s.min_height_fraction * page_height
    ]


def area_share(words: list[Word], page: OcrPage) -> float:
    """The share of the page the words' boxes cover: how much of the picture the text takes."""
    covered = sum((w.box[2] - w.box[0]) * (w.box[3] - w.box[1]) for w in words)
    return min(1.0, covered / max(1, page.width * page.height))


#: Severity of unwanted text by the share of the picture it covers: a corner credit is mild, a caption severe.
TEXT_AREA_BANDS = Bands(0.01, 0.03, higher_is_better=False, measure="share of the picture the text covers")


def _describe_words(words: list[Word], page: OcrPage) -> str:
    ordered = _reading_order(words)
    text = " ".join(w.text for w in ordered)
    if len(text) > 60:
        text = text[:57] + "..."
    left = min(w.box[0] for w in ordered)
    top = min(w.box[1] for w in ordered)
    right = max(w.box[2] for w in ordered)
    bottom = max(w.box[3] for w in ordered)
    return f"'{text}' in the {region_name((left, top, right, bottom), page.width, page.height)}"


@kind.check(
    "no_stray_text",
    StrayTextSettings,
    bands=TEXT_AREA_BANDS,
    # Never quotes the unwanted text back: image models tend to draw any words a prompt contains.
    fix="No text, captions, logos or watermarks anywhere in the image.",
)
def no_stray_text(ctx: JudgeContext, s: StrayTextSettings) -> Outcome:
    page = _page(ctx)
    found = _counted(page.words, page.height, s)
    if not found:
        return Outcome(True, 0, 0, "no text or watermark found")
    detail = f"text {_describe_words(found, page)} (watermark or stray text)"
    facts = {"text": " ".join(w.text for w in _reading_order(found))[:80]}
    return Outcome(False, len(found), 0, detail, graded=area_share(found, page), facts=facts)


class OtherTextSettings(StrayTextSettings):
    text_param: str = "text"
    min_height_fraction: float = Field(0.04, ge=0, lt=1, description="only text at least this tall counts")
    expected_confidence: float = Field(30.0, ge=0, le=100)


@kind.check(
    "no_other_text",
    OtherTextSettings,
    bands=TEXT_AREA_BANDS,
    fix='Show only the text "{{ params[settings.text_param] }}", with no other words, labels or captions.',
)
def no_other_text(ctx: JudgeContext, s: OtherTextSettings) -> Outcome:
    expected = ExpectedTextSettings(text_param=s.text_param, min_confidence=s.expected_confidence)
    match = _expected_match(ctx, expected)
    page = match.page if match.words else _page(ctx)
    expected_tokens = set(normalise(str(ctx.params.get(s.text_param) or "")).split(" "))
    others = [
        w
        for w in _counted(page.words, page.height, s)
        if w not in match.words and normalise(w.text) not in expected_tokens
    ]
    if not others:
        return Outcome(True, 0, 0, "no other large text besides the expected text")
    detail = f"other text {_describe_words(others, page)} besides the expected text"
    facts = {"text": " ".join(w.text for w in _reading_order(others))[:80]}
    return Outcome(False, len(others), 0, detail, graded=area_share(others, page), facts=facts)


class NewTextSettings(StrayTextSettings):
    same_text_similarity: float = Field(0.8, gt=0, le=1, description="how alike two readings are to be the same text")


@kind.check(
    "no_new_text",
    NewTextSettings,
    needs=("source",),
    bands=Bands(0.005, 0.03, higher_is_better=False, measure="share of the picture the new text covers"),
    fix="Do not add any text, letters or numbers to the image.",
)
def no_new_text(ctx: JudgeContext, s: NewTextSettings) -> Outcome:
    # The source is read beside the result, on a second engine: two pages in the time of one.
    with ThreadPoolExecutor(1, thread_name_prefix="ocr-source") as reader:
        source = reader.submit(_page, ctx, "source")
        page = _page(ctx)
        before = [w.text for w in source.result().words]
    # Two OCR readings of the same text rarely agree to the letter; a close reading counts as old text.
    new = [
        w
        for w in _counted(page.words, page.height, s)
        if not any(similarity(w.text, old) >= s.same_text_similarity for old in before)
    ]
    if not new:
        return Outcome(True, 0, 0, "no new text appeared")
    detail = f"new text {_describe_words(new, page)} appeared in the edit"
    facts = {"text": " ".join(w.text for w in _reading_order(new))[:80]}
    return Outcome(False, len(new), 0, detail, graded=area_share(new, page), facts=facts)
