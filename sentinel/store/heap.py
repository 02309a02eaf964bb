"""How the API and worker processes' C heap treats the megabyte buffers of image answers and decodes.

Each gateway call allocates a few buffers of about the image's size (the provider's answer, the decoded image,
the base64 sent back) and frees them when it answers. glibc's defaults hand such buffers back to the kernel as soon
as they are freed (mmap above a threshold that only grows to the largest buffer freed so far; trimming the heap top
past twice that), so the next call takes fresh pages and pays a page fault for every 4 KiB it writes: about 1.3 ms
of CPU per 1 MiB image, a fifth of the call. Here, buffers up to 16 MiB come from the heap and up to 64 MiB of
freed heap is kept for the next call. The judges' large decodes still give their memory back explicitly
(``malloc_trim`` in :mod:`sentinel.store.images`), which these settings do not prevent; but ``malloc_trim`` hands
back the main heap's free top and the free pages inside every arena, not the free top of a thread's arena, which
stays (up to KEEP_FREED_UP_TO a heap) until a ``free`` in that arena takes it past the threshold. glibc gives
each thread that meets contention an arena of its own, up to eight per core; so the process's threads share
ARENAS arenas: after a burst of large images a process keeps at most ARENAS × KEEP_FREED_UP_TO of freed heap.
Twenty 4096² evaluations left a `sentinel worker` process ~700-770 MB resident with glibc's arenas (~300 MB before
the burst), and ~310-360 MB with two; `sentinel serve` with its embedded workers ~705-745 MB, and ~335 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

#: mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: Buffers up to this size come from the heap, not a mapping of their own.
HEAP_BUFFERS_UP_TO = 16 * 1024 * 1024
#: Freed heap kept at its top before it is returned to the kernel.
KEEP_FREED_UP_TO = 64 * 1024 * 1024
#: malloc arenas the process's threads share. The threads that allocate in parallel are the few that decode
#: (the GIL serialises the rest): more arenas buy no speed, and each keeps its own KEEP_FREED_UP_TO.
ARENAS = 2


def keep_freed_buffers() -> bool:
    """Apply the settings above to this process; False where the C library is not glibc (nothing to tune)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    applied = (
        mallopt(M_MMAP_THRESHOLD, HEAP_BUFFERS_UP_TO) == 1
        and mallopt(M_TRIM_THRESHOLD, KEEP_FREED_UP_TO) == 1
        and mallopt(M_ARENA_MAX, ARENAS) == 1
    )
    if not applied:
        logger.debug("mallopt refused the heap settings; the C library's defaults stay")
    return applied
