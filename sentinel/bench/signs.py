"""Our own renderer's signs, judged as ``text-render``: how many legible signs the panel calls green.

Each phrase is drawn by the offline ``local`` renderer (``a shop sign that says "<phrase>"``, 1024²) for each
seed. A sign counts only when a plain RapidOCR pass (the library's default settings) reads the phrase exactly,
spacing aside, among whatever else it reads (the renderer's background discs are often read as 'O' or '●'):
those are signs a person reads correctly, so each should be green. The rest are listed as dropped with what
the plain pass read.

A summary contradicts itself when it says the expected text is absent or misread while the other-text check
reports that same text as other text.

Run: ``sentinel bench signs``.
"""

from __future__ import annotations

import io
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sentinel.bench import Progress, quiet
from sentinel.evaluation.local import evaluate_files
from sentinel.providers.local import render
from sentinel.services import Services
from sentinel.wiring import get_services

#: Phrases with digits, punctuation, percent signs, mixed case, accents and two lines.
PHRASES: tuple[str, ...] = (
    "BUY 2 GET 1",
    "SALE 50% OFF",
    "OPEN 24/7",
    "FRESH BREAD",
    "eBike Rental",
    "Open Daily",
    "No Parking!",
    "Tom's Diner",
    "2-for-1 Deals",
    "Café au lait",
    "OPEN LATE\nFRI & SAT",
    "Hot Coffee\n$2.50",
)
SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
SIDE = 1024
TASK = "text-render"

_plain_engine: Any = None
_plain_lock = threading.Lock()


def _plain_read(rgb: np.ndarray) -> str:
    """Everything a RapidOCR engine with the library's default settings reads, in its own order, joined."""
    global _plain_engine
    with _plain_lock:
        if _plain_engine is None:
            from rapidocr import RapidOCR

            _plain_engine = RapidOCR(params={"Global.log_level": "error"})
        result = _plain_engine(rgb)
    return " ".join(result.txts or ()) if result.boxes is not None else ""


def _unspaced(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text) if not c.isspace())


def _loose(text: str) -> str:
    return _unspaced(text).casefold()


def _contradicts(phrase: str, document: dict[str, Any]) -> bool:
    """Expected text failed while the other-text check names that very text as other text."""
    criteria = {c["id"]: c for judge in document["judges"] for c in judge.get("criteria", [])}
    expected, other = criteria.get("expected-text"), criteria.get("no-other-text")
    if expected is None or other is None or expected["passed"] or other["passed"]:
        return False
    return _loose(phrase) in _loose(str(other.get("facts", {}).get("text", "")))


def run(
    phrases: tuple[str, ...] | list[str] = PHRASES,
    seeds: tuple[int, ...] | list[int] = SEEDS,
    services: Services | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Render, keep the signs a plain OCR pass reads, judge each in-process; green share, failures, contradictions."""
    services = services or get_services()
    started = time.perf_counter()
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for phrase in phrases:
        for seed in seeds:
            png = render(f'a shop sign that says "{phrase}"', SIDE, SIDE, seed)
            rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            plain = _plain_read(rgb)
            if _unspaced(phrase) not in _unspaced(plain):
                dropped.append({"phrase": phrase, "seed": seed, "plain_read": plain})
                continue
            [(_, document)] = list(evaluate_files(services, TASK, {"text": phrase}, [(Path(f"{seed}.png"), png)], {}))
            kept.append(
                {
                    "phrase": phrase,
                    "seed": seed,
                    "verdict": document["verdict"],
                    "summary": document["summary"],
                    "contradiction": _contradicts(phrase, document),
                }
            )
        progress(f"{phrase!r} done: {len(kept)} signs judged, {len(dropped)} dropped so far")
    green = sum(case["verdict"] == "green" for case in kept)
    return {
        "task": TASK,
        "rendered": len(kept) + len(dropped),
        "judged": len(kept),
        "green": green,
        "green_share": green / len(kept) if kept else 0.0,
        "contradictions": sum(case["contradiction"] for case in kept),
        "failures": [case for case in kept if case["verdict"] != "green"],
        "dropped": dropped,
        "seconds": round(time.perf_counter() - started, 1),
    }
