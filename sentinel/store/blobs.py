"""Content-addressed blob storage: the interface every backend keeps, and the filesystem backend.

Three backends keep images: a folder (the embedded default), an S3-compatible object store
(``s3://bucket/prefix``) and PostgreSQL (``postgresql://…``). Every one is content-addressed:
a blob's name is the sha256 of its bytes, so writing the same bytes twice is one object and a
blob never changes once written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from sentinel.errors import SentinelError

#: Read and stream blobs in pieces of this size, so a large image is never copied whole to go out.
CHUNK_BYTES = 256 * 1024

#: Content-addressed: the bytes behind an id never change, so clients and CDNs may keep them forever.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a lowercase sha256 hex digest, the only form an image id takes."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def check_blob_id(sha256: str) -> str:
    if not is_sha256(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


class BlobStoreError(SentinelError):
    """The store cannot be used; the message says what is wrong and what to check."""

    status_code = 503
    error_type = "storage_unavailable"


class BlobNotFound(BlobStoreError):
    """No blob under that id."""

    status_code = 404
    error_type = "not_found"


@dataclass(frozen=True)
class BlobEntry:
    """One stored blob, as a listing sees it (for garbage collection and migration)."""

    sha256: str
    size_bytes: int
    modified_at: datetime


@runtime_checkable
class BlobStore(Protocol):
    """What Sentinel needs from a place that keeps image bytes.

    Methods block (files, sockets, a database); callers on the event loop run them in a thread.
    """

    #: ``filesystem``, ``s3`` or ``postgresql``: shown by ``sentinel storage info`` and ``doctor``.
    kind: str

    def describe(self) -> str:
        """Where blobs go, for logs and CLI output; never includes a secret."""
        ...

    def put(self, sha256: str, data: bytes, mime: str) -> None:
        """Store ``data`` under its hash with the sniffed ``mime``; a second put of the same id is a no-op."""
        ...

    def get(self, sha256: str) -> bytes:
        """The whole blob; raises BlobNotFound."""
        ...

    def stream(self, sha256: str) -> Iterator[bytes]:
        """The blob in pieces of at most CHUNK_BYTES; raises BlobNotFound before the first piece."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None:
        """Remove the blob; deleting one that is not there is not an error."""
        ...

    def entries(self) -> Iterator[BlobEntry]:
        """Every blob in the store, in no particular order."""
        ...

    def presigned_url(self, sha256: str, ttl_seconds: int) -> str | None:
        """A URL that fetches the blob without Sentinel for ``ttl_seconds``; None when the backend has none."""
        ...

    def check(self) -> None:
        """Raise BlobStoreError naming the problem when the store cannot be written (start-up, readiness)."""
        ...


class FilesystemBlobStore:
    """Blobs live at ``root/ab/cd/<sha256>``; writing the same bytes twice is one file."""

    kind = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    def path(self, sha256: str) -> Path:
        check_blob_id(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes, mime: str) -> None:
        path = self.path(sha256)
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
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {sha256} in {self.describe()}") from exc

    def stream(self, sha256: str) -> Iterator[bytes]:
        try:
            handle = self.path(sha256).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {sha256} in {self.describe()}") from exc
        return _chunks(handle)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def entries(self) -> Iterator[BlobEntry]:
        if not self.root.exists():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir() or len(first.name) != 2:
                continue
            for path in first.glob("??/*"):
                if not is_sha256(path.name):
                    continue  # a writer's .incoming- file, or something that is not ours
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # deleted while we listed
                yield BlobEntry(path.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def presigned_url(self, sha256: str, ttl_seconds: int) -> str | None:
        return None

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-probe"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise BlobStoreError(f"blob folder {self.root} cannot be written: {exc.strerror or exc}") from exc


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while piece := handle.read(CHUNK_BYTES):
            yield piece
