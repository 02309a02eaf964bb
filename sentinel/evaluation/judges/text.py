"""The ``text`` judge: offline OCR (Tesseract through tesserocr) for expected, stray and new text.

Tesseract was chosen over RapidOCR for its speed (≈15-60 ms a pass here against ≈150 ms) and
because RapidOCR's wheel pulls in the GUI build of OpenCV; rotated text, which Tesseract reads
poorly, is handled by re-reading at 90/270/180 degrees only when the expected text is not found.
"""

from __future__ import annotations

import glob
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from pydantic import Field

from sentinel.evaluation.judges.base import CheckSettings, JudgeContext, JudgeKind, Outcome, region_name

kind = JudgeKind("text", "Offline OCR: the expected text is legible, and no stray, watermark or new text.")

#: OCR runs on the image scaled so its longest side is at most this; larger costs time, not accuracy.
OCR_SIDE = 1024
#: Rotations tried, in order, when the expected text is not read upright.
ROTATIONS = (90, 270, 180)


class OcrUnavailable(RuntimeError):
    """Tesseract's English data is not installed; the judge abstains and says how to fix it."""


@lru_cache(maxsize=1)
def tessdata_dir() -> str:
    candidates = [os.environ.get("SENTINEL_TESSDATA_DIR"), os.environ.get("TESSDATA_PREFIX")]
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/local/share/tessdata", "/opt/homebrew/share/tessdata"]
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, "eng.traineddata")):
            return candidate
    raise OcrUnavailable(
        "OCR data not found: install Tesseract's English data (Debian/Ubuntu: apt-get install tesseract-ocr-eng) "
        "or set SENTINEL_TESSDATA_DIR to the folder holding eng.traineddata"
    )


_local = threading.local()


def _api():  # type: ignore[no-untyped-def]
    # One Tesseract engine per thread: the C API object is not thread-safe, and creating one costs ~100 ms.
    api = getattr(_local, "api", None)
    if api is None:
        import tesserocr

        api = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang="eng", psm=tesserocr.PSM.SPARSE_TEXT)
        _local.api = api
    return api


@dataclass(frozen=True)
class Word:
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


def read_words(gray: np.ndarray, rotation: int = 0) -> OcrPage:
    import tesserocr

    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    if rotation:
        image = image.rotate(rotation, expand=True)
    api = _api()
    api.SetImage(image)
    api.Recognize()
    words: list[Word] = []
    iterator = api.GetIterator()
    level = tesserocr.RIL.WORD
    for item in tesserocr.iterate_level(iterator, level):
        text = (item.GetUTF8Text(level) or "").strip()
        box = item.BoundingBox(level)
        if text and box:
            words.append(Word(text, float(item.Confidence(level)), tuple(box)))  # type: ignore[arg-type]
    return OcrPage(words, image.width, image.height, rotation)


def _ocr_gray(ctx: JudgeContext, which: str = "image") -> np.ndarray:
    def compute() -> np.ndarray:
        source = ctx.image if which == "image" else ctx.require(which)
        gray = source.decode().gray
        step = max(1, int(np.ceil(max(gray.shape) / OCR_SIDE)))
        if step == 1:
            return gray
        h, w = (gray.shape[0] // step) * step, (gray.shape[1] // step) * step
        return gray[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))

    return ctx.memo(f"ocr-gray:{which}", compute)


def _page(ctx: JudgeContext, which: str = "image", rotation: int = 0) -> OcrPage:
    return ctx.memo(f"ocr:{which}:{rotation}", lambda: read_words(_ocr_gray(ctx, which), rotation))


def normalise(text: str) -> str:
    """Case-folded, accents kept, every run of whitespace one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def similarity(a: str, b: str) -> float:
    """1 − Levenshtein distance / length of the longer string."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


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
            read = normalise(" ".join(w.text for w in run))
            score = similarity(read, target)
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


@kind.check("expected_text", ExpectedTextSettings)
def expected_text(ctx: JudgeContext, s: ExpectedTextSettings) -> Outcome:
    expected = str(ctx.params.get(s.text_param) or "")
    if not expected.strip():
        return Outcome(False, None, None, f"no expected text was given in param '{s.text_param}'")
    match = _expected_match(ctx, s)
    where = f" (rotated {match.page.rotation}°)" if match.page.rotation and match.words else ""
    if match.score >= s.min_similarity:
        return Outcome(True, match.read, expected, f"OCR read '{match.read}'{where} as expected")
    if not match.read:
        return Outcome(False, "", expected, f"expected text '{expected}' is absent: OCR found no matching text")
    detail = (
        f"OCR read '{match.read}'{where}, expected '{normalise(expected)}' "
        f"(similarity {match.score:.2f}, needs {s.min_similarity:.2f})"
    )
    return Outcome(False, match.read, expected, detail)


class StrayTextSettings(CheckSettings):
    min_confidence: float = Field(60.0, ge=0, le=100, description="OCR confidence a word needs to count")
    min_chars: int = Field(3, ge=1, le=50, description="letters or digits a word needs to count")
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


@kind.check("no_stray_text", StrayTextSettings)
def no_stray_text(ctx: JudgeContext, s: StrayTextSettings) -> Outcome:
    page = _page(ctx)
    found = _counted(page.words, page.height, s)
    if not found:
        return Outcome(True, 0, 0, "no text or watermark found")
    return Outcome(False, len(found), 0, f"text {_describe_words(found, page)} (watermark or stray text)")


class OtherTextSettings(StrayTextSettings):
    text_param: str = "text"
    min_height_fraction: float = Field(0.04, ge=0, lt=1, description="only text at least this tall counts")
    expected_confidence: float = Field(30.0, ge=0, le=100)


@kind.check("no_other_text", OtherTextSettings)
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
    return Outcome(False, len(others), 0, f"other text {_describe_words(others, page)} besides the expected text")


class NewTextSettings(StrayTextSettings):
    pass


@kind.check("no_new_text", NewTextSettings, needs=("source",))
def no_new_text(ctx: JudgeContext, s: NewTextSettings) -> Outcome:
    page = _page(ctx)
    source_page = _page(ctx, "source")
    before = {normalise(w.text) for w in source_page.words}
    new = [w for w in _counted(page.words, page.height, s) if normalise(w.text) not in before]
    if not new:
        return Outcome(True, 0, 0, "no new text appeared")
    return Outcome(False, len(new), 0, f"new text {_describe_words(new, page)} appeared in the edit")
