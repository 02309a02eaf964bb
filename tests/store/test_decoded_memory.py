"""Decoded pixels take bounded memory: the cache is bounded in bytes (least recently used go first, an image
larger than its share is not kept), decodes at once are bounded by a byte budget, and an image past the analysis
limit is judged on a reduced copy whose pixel-level measures still read the delivered pixels."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentinel.bench.memory import run as measure_memory
from sentinel.errors import DecodeBusy
from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.store import images
from sentinel.store.heap import keep_freed_buffers
from sentinel.store.images import (
    DecodeBudget,
    DecodedCache,
    decode_image,
    decoded_pixels,
    preview_rgb,
    releasing_memory,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def png(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    picture = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8).repeat(16, 0).repeat(16, 1)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def test_the_cache_holds_no_more_bytes_than_its_bound_and_drops_the_least_recently_used() -> None:
    images = {f"{seed:064x}": png(1024, 1024, seed) for seed in range(6)}  # 3 MiB of pixels each
    loads: list[str] = []
    cache = DecodedCache(10 * 1024 * 1024, analysis_pixels=None)

    def get(key: str) -> np.ndarray:
        def load() -> bytes:
            loads.append(key)
            return images[key]

        return cache.get_or_decode(key, load, 100_000_000).rgb

    keys = list(images)
    for key in keys:
        get(key)
        assert cache.total_bytes <= 10 * 1024 * 1024
    assert loads == keys
    # Three fit: the last three are served without decoding again, the first is decoded again.
    for key in keys[-3:]:
        get(key)
    assert loads == keys
    get(keys[0])
    assert loads == [*keys, keys[0]]
    assert cache.total_bytes <= 10 * 1024 * 1024


def test_an_image_larger_than_its_share_of_the_cache_is_served_but_not_kept() -> None:
    data = png(2048, 2048, 1)  # 12 MiB of pixels
    cache = DecodedCache(16 * 1024 * 1024, max_entry_share=0.5, analysis_pixels=None)
    first = cache.get_or_decode("a" * 64, lambda: data, 100_000_000)
    assert first.rgb.shape == (2048, 2048, 3)
    assert cache.total_bytes == 0


def test_decodes_wait_for_room_in_the_budget_and_give_up_with_a_clear_error() -> None:
    budget = DecodeBudget(100)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with budget.reserve(80, timeout=5):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    with pytest.raises(DecodeBusy, match="decode budget"), budget.reserve(40, timeout=0.01):
        pass
    # One larger than the whole budget is not refused for ever: it waits to run alone.
    entered = threading.Event()

    def big() -> None:
        with budget.reserve(1000, timeout=10):
            assert budget.used_bytes == 100
            entered.set()

    waiter = threading.Thread(target=big)
    waiter.start()
    assert not entered.is_set()
    release.set()
    holder.join(10)
    waiter.join(10)
    assert entered.is_set()
    assert budget.used_bytes == 0


def grainy_photo(height: int, width: int) -> np.ndarray:
    """A photograph mirrored to ``width``×``height``, grain of σ 8 added, its right half brightened (a seam)."""
    photo = np.asarray(Image.open(FIXTURES / "photos" / "china.jpg").convert("RGB"))
    row = np.concatenate([photo, photo[:, ::-1]] * 2, axis=1)
    picture = np.concatenate([row, row[::-1]] * 2, axis=0)[:height, :width].astype(np.float32)
    picture[:, width // 2 :] += 25
    picture += np.random.default_rng(7).normal(0, 8, picture.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)


def jpeg_bytes(picture: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def judged(data: bytes, analysis_pixels: int | None, width: int, height: int) -> dict[str, object]:
    """What the pixels judge reads of ``data`` when the process analyses at most ``analysis_pixels``."""
    saved = decoded_pixels.analysis_pixels
    decoded_pixels.clear()
    decoded_pixels.analysis_pixels = analysis_pixels
    try:
        source = ImageSource(hashlib.sha256(data).hexdigest(), "image/jpeg", lambda: data, 100_000_000)
        ctx = JudgeContext(image=source, params={"width": width, "height": height})

        def run(name: str) -> pixels.Outcome:
            check = pixels.kind.checks[name]
            return check.run(ctx, check.settings_model())

        return {
            "reduced": ctx.decoded.reduced,
            "size": run("size").detail,
            "noise": run("noise").measured,
            "jpeg": run("jpeg_blocking").measured,
            "seam": run("tiling").detail,
        }
    finally:
        decoded_pixels.analysis_pixels = saved
        decoded_pixels.clear()


def test_a_large_image_is_judged_on_a_reduced_copy_with_full_resolution_measures() -> None:
    height, width = 1600, 2400
    picture = grainy_photo(height, width)
    data = jpeg_bytes(picture, 95)
    full = decode_image(data, max_pixels=100_000_000)
    reduced = decode_image(data, max_pixels=100_000_000, analysis_pixels=1_000_000)
    assert not full.reduced and reduced.reduced
    assert reduced.rgb.shape[0] * reduced.rgb.shape[1] <= 1_000_000
    assert (reduced.width, reduced.height) == (width, height)
    # The detail kept is the delivered pixels, not a resampled copy.
    assert reduced.detail is not None
    crop_h, crop_w = reduced.detail.shape[:2]
    top, left = (height - crop_h) // 2 // 8 * 8, (width - crop_w) // 2 // 8 * 8
    assert np.array_equal(reduced.detail, full.rgb[top : top + crop_h, left : left + crop_w])

    grainy, blocky = data, jpeg_bytes(picture, 20)
    for data, measure in ((grainy, "noise"), (blocky, "jpeg")):
        as_delivered = judged(data, None, width, height)
        on_reduced = judged(data, 1_000_000, width, height)
        assert not as_delivered["reduced"] and on_reduced["reduced"]
        assert as_delivered["size"] == on_reduced["size"] == f"image is {width}×{height} as requested"
        # Read on full-resolution pixels either way: grain of σ 8 (JPEG q95), and quality 20, to within a margin.
        assert on_reduced[measure] == pytest.approx(as_delivered[measure], rel=0.1), measure
        for seen in (as_delivered, on_reduced):
            assert "vertical seam runs at 50% of the width" in str(seen["seam"])
    assert 5 < judged(grainy, 1_000_000, width, height)["noise"] < 10
    assert 15 < judged(blocky, 1_000_000, width, height)["jpeg"] < 25


def test_a_large_image_is_not_kept_once_the_work_that_needed_it_is_done() -> None:
    small, large = png(512, 512, 1), png(4800, 4000, 2)
    decoded_pixels.clear()
    with releasing_memory():
        decoded_pixels.get_or_decode("1" * 64, lambda: small, 100_000_000)
        kept = decoded_pixels.get_or_decode("2" * 64, lambda: large, 100_000_000)
        assert kept.reduced and (kept.width, kept.height) == (4800, 4000)
        # While the evaluation runs, its judges share the decode.
        assert decoded_pixels.get_or_decode("2" * 64, lambda: b"", 100_000_000) is kept
        assert decoded_pixels.total_bytes == kept.nbytes + 512 * 512 * 3
    assert decoded_pixels.total_bytes == 512 * 512 * 3
    decoded_pixels.clear()


def test_a_large_jpeg_preview_is_decoded_small_in_draft_mode() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), (250, 250, 250)).save(buffer, "JPEG", quality=90)
    preview = preview_rgb(buffer.getvalue(), max_pixels=100_000_000, analysis_pixels=1_000_000)
    assert preview.shape[0] * preview.shape[1] <= 1_000_000
    assert float(preview.std()) < 2.0


def test_four_large_uploads_at_once_keep_the_api_within_its_memory_and_give_it_back() -> None:
    # Four 40-megapixel PNGs of ~140 KB each, posted at once to `sentinel serve`: before the decode budget, the
    # byte-bounded cache and reduced analysis copies, the API went from ~350 MiB to 2.5 GiB and kept 1.2 GiB.
    row = measure_memory(4, 8000, 5000)
    assert all(verdict in ("green", "amber", "red") for verdict in row["verdicts"]), row
    assert row["peak_mib"] - row["idle_mib"] < 900, row
    assert row["after_mib"] - row["idle_mib"] < 250, row


def on_a_worker_thread(work: Callable[[], int]) -> int:
    """``work``'s answer, run on a thread of its own as a worker's judge message is."""
    answers: list[int] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            answers.append(work())
        except BaseException as exc:  # raised again on the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if failures:
        raise failures[0]
    return answers[0]


def _heap_faults_over_messages() -> tuple[int, int]:
    """In a worker-like process: the pages the first 1024² message faulted in, and those the next ten did."""
    # Steady load means the next message comes before the idle trim is due: on a machine loaded enough to hold this
    # thread off its core for a second between two messages, the trim would be right.
    images.IDLE_TRIM_AFTER_SECONDS = 3600.0
    keep_freed_buffers()
    cache = DecodedCache(0, analysis_pixels=None)  # keeps nothing: every message decodes
    data = png(1024, 1024, 3)
    counts: list[int] = []

    def messages() -> int:
        def faults() -> int:
            return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt

        def message(number: int) -> None:
            with releasing_memory():
                cache.get_or_decode(f"{number:064x}", lambda: data, 100_000_000)

        before = faults()
        message(0)
        counts.append(faults() - before)
        before = faults()
        for number in range(1, 11):
            message(number)
        counts.append(faults() - before)
        return 0

    on_a_worker_thread(messages)
    return counts[0], counts[1]


def test_a_worker_under_steady_load_reuses_its_heap_between_messages() -> None:
    # Each message decodes a new 1024² image, and the process's work runs out between messages (one at a time).
    # Handing the freed heap back at every such gap made each next decode fault its pages in again. Measured in a
    # process of its own, as a worker is: in the suite's process, other tests' threads share its few malloc arenas
    # (sentinel.store.heap caps them), and a thread moved to another arena by contention faults that one's pages in.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        first, later = pool.apply(_heap_faults_over_messages)
    assert later < first, f"10 later messages faulted {later} pages in, the first alone {first}"


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
def test_a_worker_whose_work_ran_out_gives_its_freed_heap_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "IDLE_TRIM_AFTER_SECONDS", 0.2, raising=False)
    keep_freed_buffers()
    cache = DecodedCache(0, analysis_pixels=None)
    data = png(1024, 1024, 4)

    def message() -> int:
        with releasing_memory():
            cache.get_or_decode("4" * 64, lambda: data, 100_000_000)
            # A judge's working arrays: 48 MB freed within the heap (each below the mmap threshold).
            arrays = [np.ones(4 * 1024 * 1024, np.uint8) for _ in range(12)]
            del arrays
            return resident_bytes()

    # On this (the main) thread: glibc's malloc_trim hands back the freed pages of the main heap and those inside
    # the other arenas, but not the free top of a thread's arena (only a free() past M_TRIM_THRESHOLD trims that).
    freed_in_message = message()
    deadline = time.monotonic() + 30
    while resident_bytes() > freed_in_message - 32 * 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert resident_bytes() <= freed_in_message - 32 * 1024 * 1024, "the idle worker kept its freed heap"
