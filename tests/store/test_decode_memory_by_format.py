"""A decode holds about what the decode budget reserved for it, whatever the format: a tiny WebP of a huge canvas
held four times its reservation (Pillow's WebP plugin keeps two canvases and two copies of the frame), and a
preview of a large transparent PNG composited it at full size several times over (outside probe F7).

Peaks are the process's own (VmHWM, reset before the decodes), measured in a process of its own: Pillow's and
libwebp's buffers are C allocations that no Python-level tracer sees.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentinel.store.heap import M_ARENA_MAX, keep_freed_buffers
from sentinel.store.images import DecodedCache, decode_image

MIB = 1024 * 1024
#: Room allowed above the budget for what a decode makes besides its reservation's estimate (strips, allocator).
MARGIN = 32 * MIB

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="reads the process's peak resident size from /proc"
)


def flat(mode: str, size: tuple[int, int], colour: tuple[int, ...], fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, fmt, **options)
    return buffer.getvalue()


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _peak_above_start(work: Callable[[], object]) -> int:
    """Bytes the process's resident size rose to above where it stood, while ``work`` ran."""
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from the resident size now
    start = _status("VmRSS")
    work()
    return _status("VmHWM") - start


def _one_decode(data: bytes, budget: int, analysis_pixels: int, preview: bool) -> int:
    keep_freed_buffers()  # as `sentinel serve` and the workers run
    cache = DecodedCache(0, budget_bytes=budget, analysis_pixels=analysis_pixels)
    if preview:
        return _peak_above_start(lambda: cache.preview(data, 40_000_000))
    return _peak_above_start(lambda: cache.get_or_decode("a" * 64, lambda: data, 40_000_000))


def _decodes_at_once(files: list[bytes], budget: int, analysis_pixels: int) -> int:
    keep_freed_buffers()
    # One malloc arena: the process keeps up to KEEP_FREED_UP_TO of freed heap per arena by design (see
    # sentinel.store.heap), and with two, which thread frees into which arena decided whether a freed decode could
    # be reused by the next: the peak moved by tens of MiB from run to run. With one, what is measured is what the
    # budget governs, the decodes held at once.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(1))
    cache = DecodedCache(0, budget_bytes=budget, analysis_pixels=analysis_pixels)
    start = threading.Barrier(len(files))
    failures: list[BaseException] = []

    def judge(number: int) -> None:
        try:
            start.wait(30)
            cache.get_or_decode(f"{number:064x}", lambda: files[number], 40_000_000)
        except BaseException as exc:  # raised again on the measuring thread
            failures.append(exc)

    def all_at_once() -> None:
        threads = [threading.Thread(target=judge, args=(number,)) for number in range(len(files))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)

    peak = _peak_above_start(all_at_once)
    if failures:
        raise failures[0]
    return peak


def in_own_process(function: Callable[..., int], *args: object) -> int:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


@pytest.mark.parametrize(
    ("size", "kind"),
    [((6300, 6300), "39.7-megapixel square"), ((16383, 2000), "16383-px-wide banner")],
)
def test_a_tiny_lossless_webp_of_a_huge_canvas_decodes_within_the_decode_budget(
    size: tuple[int, int], kind: str
) -> None:
    # 1.5 KB of upload. Pillow's decode peaked at 611 MiB for the square (505 MiB for the banner), while the
    # budget of 256 MiB had reserved 198 MB for it.
    data = flat("RGB", size, (200, 10, 10), "WEBP", lossless=True)
    assert len(data) < 2000
    budget = 256 * MIB
    peak = in_own_process(_one_decode, data, budget, 6_000_000, False)
    assert peak <= budget + MARGIN, f"decoding a {kind} WebP of {len(data)} bytes took {peak / MIB:.0f} MiB"


def test_eight_tiny_webps_judged_at_once_keep_the_process_within_its_decode_budget() -> None:
    # Eight distinct 10-megapixel lossless WebPs (a few hundred bytes each) decoded by eight threads, as eight
    # evaluations posted at once are, in a process whose budget is 96 MiB: each decode must wait for the room its
    # true cost needs. Pillow's decodes, reserved at a third of what they held, peaked at ~160 MiB each.
    files = [flat("RGB", (3200, 3200), (30 * n, 10, 200 - 20 * n), "WEBP", lossless=True) for n in range(8)]
    budget = 96 * MIB
    peak = in_own_process(_decodes_at_once, files, budget, 1_500_000)
    assert peak <= budget + MARGIN, f"8 decodes at once took {peak / MIB:.0f} MiB over a {budget // MIB} MiB budget"


def test_a_preview_of_a_large_transparent_png_stays_within_the_decode_budget() -> None:
    # The blank check on a generated image and the difference view decode a preview: a transparent PNG was
    # composited on white at full size and copied again to be reduced (~24 bytes a pixel: 240 MiB here).
    data = flat("RGBA", (3200, 3200), (10, 200, 30, 120), "PNG")
    budget = 96 * MIB
    peak = in_own_process(_one_decode, data, budget, 1_500_000, True)
    assert peak <= budget + MARGIN, f"a preview of a 3200² RGBA PNG took {peak / MIB:.0f} MiB"


def test_a_webp_decodes_to_the_same_pixels_as_before_alpha_and_orientation_included() -> None:
    # Decoded by OpenCV now, not Pillow: the same libwebp, so the judges read the very same pixels. Transparency
    # is composited on white as for a PNG, and the EXIF orientation is applied once.
    rng = np.random.default_rng(5)
    picture = rng.integers(0, 256, (120, 160, 4), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    for options in ({"lossless": True}, {"quality": 70}):
        buffer = io.BytesIO()
        Image.fromarray(picture, "RGBA").save(buffer, "WEBP", exif=exif, **options)
        data = buffer.getvalue()
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            on_white = Image.alpha_composite(Image.new("RGBA", opened.size, (255, 255, 255, 255)), opened)
            expected = np.asarray(on_white.convert("RGB").transpose(Image.Transpose.ROTATE_270))
        decoded = decode_image(data, max_pixels=1_000_000)
        assert (decoded.width, decoded.height) == (120, 160)
        assert np.array_equal(decoded.rgb, expected), options


def test_a_damaged_webp_is_refused_with_a_clear_error() -> None:
    from sentinel.errors import BadImage

    data = flat("RGB", (400, 300), (10, 20, 30), "WEBP", quality=80)
    # The header parses (Pillow opens it), the data past it is garbage.
    damaged = data[:40] + bytes(len(data) - 40)
    with pytest.raises(BadImage, match="could not be decoded"):
        decode_image(damaged, max_pixels=1_000_000)
