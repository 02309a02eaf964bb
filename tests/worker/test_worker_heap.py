"""A worker process keeps image-sized buffers in its heap, so each judge's decode does not fault in fresh pages."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest

#: Run in a fresh interpreter: glibc's mmap threshold moves once a mapped chunk is freed, and a test process has
#: allocated (and freed) plenty already.
PROBE = """
import ctypes, ctypes.util, sys

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = Mallinfo2
from sentinel.workflow import actors
if sys.argv[1] == "boot":
    # What dramatiq does when a worker starts (the other middlewares' hooks would start the relay on a database).
    for middleware in actors.broker.middleware:
        if isinstance(middleware, actors.KeepFreedBuffers):
            middleware.after_worker_boot(actors.broker, None)
mapped_before = libc.mallinfo2().hblkhd
decoded_image = bytearray(3 * 1024 * 1024)  # a 1024x1024 RGB decode
print("mapped" if libc.mallinfo2().hblkhd - mapped_before >= len(decoded_image) else "heap")
"""


def _has_mallinfo2() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return hasattr(libc, "mallinfo2")
    except OSError:
        return False


def where_a_decode_lands(mode: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SENTINEL_")}
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc 2.33+ only: other C libraries have nothing to tune")
def test_a_booted_worker_process_takes_image_sized_buffers_from_its_heap() -> None:
    assert where_a_decode_lands("no-boot") == "mapped"  # glibc's default: a fresh mapping, faulted in page by page
    assert where_a_decode_lands("boot") == "heap"
