"""Images a job's attempt paid for that the blob store could not keep (away, full), kept until it can.

The provider was paid for the image: a re-run of the attempt (the message retried, the sweep's re-send) stores these
bytes instead of calling the provider again. They are kept in a folder on the worker's own disk (they outlive the
process), else, when that fails too (the same full disk), in the process's memory, up to a bound. A re-run on
another machine finds neither and generates again, as before: the call log still records both calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

from sentinel.store.blobs import is_sha256

logger = logging.getLogger(__name__)

#: The most bytes kept in memory for images the folder could not take either.
MEMORY_LIMIT_BYTES = 256 * 1024 * 1024

_memory: dict[str, bytes] = {}
_memory_lock = threading.Lock()


class UnstoredImages:
    """Images by hash (the id the call log names them by) waiting for the blob store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, sha256: str, data: bytes) -> None:
        if not is_sha256(sha256):
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor, name = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                os.replace(name, self.folder / sha256)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
            return
        except OSError as exc:
            logger.warning("could not keep image %s on disk (%s): keeping it in memory", sha256, exc.strerror or exc)
        with _memory_lock:
            if sum(map(len, _memory.values())) + len(data) <= MEMORY_LIMIT_BYTES:
                _memory[sha256] = data
            else:
                logger.warning("no room to keep image %s until the blob store is back: it is lost", sha256)

    def get(self, sha256: str) -> bytes | None:
        """The kept bytes of ``sha256``, checked against their hash; None when this process's machine has none."""
        if not is_sha256(sha256):
            return None
        with _memory_lock:
            data = _memory.get(sha256)
        if data is None:
            try:
                data = (self.folder / sha256).read_bytes()
            except OSError:
                return None
        return data if hashlib.sha256(data).hexdigest() == sha256 else None

    def drop(self, sha256: str) -> None:
        """Forget ``sha256`` once the blob store holds it."""
        if not is_sha256(sha256):
            return
        with _memory_lock:
            _memory.pop(sha256, None)
        (self.folder / sha256).unlink(missing_ok=True)
