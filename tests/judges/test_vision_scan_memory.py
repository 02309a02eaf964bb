"""What the OCR scan for instructions to the judges keeps in memory in a worker: a burst of photos is scanned one
at a time, and the pixels a scan decoded are not kept after it (issue 22: 200 evaluations at once under 500 MB)."""

from __future__ import annotations

import threading

from sentinel.evaluation.vision import injection, judge
from sentinel.store.images import decoded_pixels
from tests.judges.test_vision_concurrency import variant
from tests.judges.test_vision_judges import context, injection_image


def test_a_scan_does_not_keep_the_pixels_it_decoded_but_leaves_kept_ones_kept() -> None:
    decoded_pixels.clear()
    scanned_alone = context(variant(101, injection_image()))
    assert injection.scan(scanned_alone) is not None  # the words were read, so the image was decoded
    assert decoded_pixels.total_bytes == 0

    # An image whose pixels the process kept already (an offline judge decoded it) stays kept for its readers.
    kept = context(variant(102, injection_image()))
    kept.image.decode()
    kept_bytes = decoded_pixels.total_bytes
    assert kept_bytes > 0
    assert injection.scan(kept) is not None
    assert decoded_pixels.total_bytes == kept_bytes


def test_a_worker_scans_one_image_at_a_time(monkeypatch) -> None:
    """A second scan waits for the first instead of taking a thread (and an OCR engine and heap) of its own."""
    first_started, release_first = threading.Event(), threading.Event()
    first = context(variant(103))
    names: dict[str, str] = {}

    def before_reading(sha256: str) -> None:
        names[sha256] = threading.current_thread().name
        if sha256 == first.image.sha256:
            first_started.set()
            release_first.wait(60)

    monkeypatch.setattr(injection, "before_reading", before_reading)
    scanners = judge._scanners()
    held = injection.scan_soon(first, scanners)
    assert first_started.wait(60)
    second = context(variant(104))
    waiting = injection.scan_soon(second, scanners)
    release_first.set()
    held.result(timeout=60)
    waiting.result(timeout=60)
    assert names[second.image.sha256] == names[first.image.sha256]
