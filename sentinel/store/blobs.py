"""Content-addressed blob storage on the filesystem (the embedded default)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a lowercase sha256 hex digest, the only form an image id takes."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class FilesystemBlobStore:
    """Blobs live at ``root/ab/cd/<sha256>``; writing the same bytes twice is one file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside then rename, so a crash never leaves a half-written blob under its hash.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def check(self) -> None:
        """Raise when the store cannot be written (used at start-up)."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / ".write-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
