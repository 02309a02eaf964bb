"""Content-addressed blob storage: the interface every backend keeps, and the filesystem backend.

Three backends keep images: a folder (the embedded default), an S3-compatible object store
(``s3://bucket/prefix``) and PostgreSQL (``postgresql://…``). Every one is content-addressed:
a blob's name is the sha256 of its bytes, so writing the same bytes twice is one object and a
blob never changes once written.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar, runtime_checkable

from sentinel.errors import SentinelError

#: Read and stream blobs in pieces of this size, so a large image is never copied whole to go out.
CHUNK_BYTES = 256 * 1024

#: Content-addressed: the bytes behind an id never change, so clients and CDNs may keep them forever.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"

#: What a writer names the file it writes before renaming it under its hash; ``entries`` skips these, and
#: ``sweep_incoming`` removes the ones a crash left behind.
INCOMING_PREFIX = ".incoming-"

#: The most blobs written, or folders synced, at once by one ``put_many``: each costs a write and an fsync (1.5-4 ms
#: for 1 MiB on an SSD), which overlap on the device, so a group of 16 new images pays about one, not 16 in a row.
SYNC_THREADS = 8


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


@dataclass(eq=False)
class StagedBlob:
    """A blob's bytes written aside and synced by :meth:`FilesystemBlobStore.stage`, not yet under its name."""

    sha256: str
    temporary: Path
    #: Folders to sync once the file is renamed: its own, and the parent of each folder the staging created.
    folders: set[Path] = field(default_factory=set)


T = TypeVar("T")
R = TypeVar("R")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item, at once in a shared pool when there is more than one (each waits on the disk)."""
    global _pool
    if len(items) <= 1:
        return [work(item) for item in items]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="blob-sync")
    return list(_pool.map(work, items))


def fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a renamed or created name) survive a power loss, as fsync makes a file's bytes."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def put_all(store: BlobStore, blobs: Sequence[tuple[str, bytes, str]]) -> None:
    """Every ``(sha256, data, mime)`` into ``store``: at once where the store can (``put_many``), else one by one."""
    put_many = getattr(store, "put_many", None)
    if put_many is not None:
        put_many(blobs)
        return
    for sha256, data, mime in blobs:
        store.put(sha256, data, mime)


class FilesystemBlobStore:
    """Blobs live at ``root/ab/cd/<sha256>``; writing the same bytes twice is one file.

    A put is durable when it returns: the bytes are written to a temporary file in the blob's folder and synced, then
    renamed under the hash and the folder synced, so a crash never leaves a half-written blob under its hash and a row
    committed after the put never names a blob a power loss could take back. The costly half (write and fsync) can be
    done ahead by :meth:`stage`, outside the caller's transaction, leaving the put a rename and a folder sync.
    """

    kind = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root
        #: Blobs staged and not yet renamed or discarded, by hash: a put of that hash renames one of them.
        self._staged: dict[str, list[StagedBlob]] = {}
        #: Blobs renamed whose folder is not synced yet: a put finding one of them must sync it too before it returns.
        self._unsynced: dict[str, Path] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"folder {self.root}"

    def path(self, sha256: str) -> Path:
        check_blob_id(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes, mime: str) -> None:
        self.put_many([(sha256, data, mime)])

    def put_many(self, blobs: Sequence[tuple[str, bytes, str]]) -> None:
        """Every blob durably under its hash when this returns. A blob staged by :meth:`stage` is renamed; the others
        are written at once (each in a thread), and each folder that gained a name is synced once, all at once."""
        to_write: list[tuple[Path, bytes]] = []
        folders: set[Path] = set()
        for sha256, data, _mime in blobs:
            path = self.path(sha256)
            staged = self._take_staged(sha256)
            if path.exists():
                if staged is not None:
                    staged.temporary.unlink(missing_ok=True)
                with self._lock:
                    pending = self._unsynced.get(sha256)
                if pending is not None:
                    folders.add(pending)  # renamed by a put that has not synced its folder yet: ours must not wait
                continue
            if staged is None:
                to_write.append((path, data))
                continue
            # Marked before the rename, so a put that sees the name from now on also syncs its folder.
            with self._lock:
                self._unsynced[sha256] = path.parent
            os.replace(staged.temporary, path)
            folders |= staged.folders
        for written in _in_parallel(self._write_and_rename, to_write):
            folders |= written
        _in_parallel(fsync_folder, sorted(folders))
        with self._lock:
            for sha256, _data, _mime in blobs:
                self._unsynced.pop(sha256, None)

    def stage(self, sha256: str, data: bytes) -> StagedBlob | None:
        """Write ``data`` aside and sync it, so a later put of ``sha256`` only renames it: the costly half of a put,
        for a request to do on its own before its rows join a shared transaction. None when the blob is already
        stored. The caller hands the result to :meth:`discard` once its put is done or abandoned."""
        path = self.path(sha256)
        if path.exists():
            return None
        folders = self._make_folders(path.parent)
        staged = StagedBlob(sha256, self._write_aside(path.parent, data), folders)
        with self._lock:
            self._staged.setdefault(sha256, []).append(staged)
        return staged

    def discard(self, staged: StagedBlob) -> None:
        """Forget a staged blob and remove its file, unless a put renamed it already."""
        with self._lock:
            waiting = self._staged.get(staged.sha256, [])
            if staged in waiting:
                waiting.remove(staged)
                if not waiting:
                    del self._staged[staged.sha256]
        staged.temporary.unlink(missing_ok=True)

    def _take_staged(self, sha256: str) -> StagedBlob | None:
        with self._lock:
            waiting = self._staged.get(sha256)
            if not waiting:
                return None
            staged = waiting.pop()
            if not waiting:
                del self._staged[sha256]
            return staged

    def _write_and_rename(self, item: tuple[Path, bytes]) -> set[Path]:
        """Write one blob aside, synced, and rename it under its hash; the folders to sync for that name to last."""
        path, data = item
        folders = self._make_folders(path.parent)
        temporary = self._write_aside(path.parent, data)
        with self._lock:
            self._unsynced[path.name] = path.parent
        try:
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return folders

    def _make_folders(self, folder: Path) -> set[Path]:
        """Create ``folder`` (``root/ab/cd``) as needed; the folders whose entries changed and need a sync."""
        changed = {folder}
        for level in (folder.parent, folder):
            try:
                level.mkdir(parents=True)
            except FileExistsError:
                continue
            changed.add(level.parent)
        return changed

    @staticmethod
    def _write_aside(folder: Path, data: bytes) -> Path:
        """``data`` in a new temporary file in ``folder``, synced to disk; removed again if writing fails."""
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=INCOMING_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def sweep_incoming(self, older_than: datetime) -> int:
        """Remove temporary files a crashed writer left (older than ``older_than``: a live writer's are younger);
        how many went."""
        if not self.root.exists():
            return 0
        removed = 0
        for path in self.root.glob(f"??/??/{INCOMING_PREFIX}*"):
            try:
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) < older_than:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # renamed or removed by its writer meanwhile
        return removed

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
