"""Content-addressed blob storage: the interface every backend keeps, and the filesystem backend.

Three backends keep images: a folder (the embedded default), an S3-compatible object store
(``s3://bucket/prefix``) and PostgreSQL (``postgresql://…``). Every one is content-addressed:
a blob's name is the sha256 of its bytes, so writing the same bytes twice is one object and a
blob never changes once written.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import itertools
import logging
import mmap
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar, runtime_checkable

from sentinel.errors import SentinelError, format_size
from sentinel.keyfiles import private_folder
from sentinel.threadpools import shared_pool

logger = logging.getLogger(__name__)

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


#: How long a client is asked to wait before trying again while the blob store is away or full.
STORE_RETRY_AFTER_SECONDS = 10


class BlobStoreError(SentinelError):
    """The store cannot be used; the message says what is wrong and what to check."""

    status_code = 503
    error_type = "storage_unavailable"

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, field=field, headers=headers)
        if self.status_code == 503:
            # A store that is away or full comes back: a client told when to look again does not hammer it.
            self.headers = {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)} | (headers or {})


#: The errors of a folder that is there but takes no more bytes: a full disk, a user's quota, a read-only mount, and
#: a folder the process may not write in (a volume's ownership or mode, NFS root squashing, an immutable flag). Each
#: is the store being away until an operator acts, not a bug: a paid image is kept for later, never bought again.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

#: Free space under which a folder store reports itself failing (readiness), before a write fails for it.
MIN_FREE_BYTES = 64 * 1024 * 1024

#: How long after a write failed for want of space the folder store still reports itself failing.
FULL_REMEMBERED_SECONDS = 60.0


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
    """A blob's bytes written aside (and synced, if the store syncs) by :meth:`FilesystemBlobStore.stage`, not yet
    under its name."""

    sha256: str
    #: The written file; None while it is being written, or when writing it failed.
    temporary: Path | None = None
    #: Folders to sync once the file is renamed: its own, and the parent of each folder the staging created.
    folders: set[Path] = field(default_factory=set)
    #: Set once the write has ended, whether it succeeded or not.
    written: threading.Event = field(default_factory=threading.Event)
    #: Discarded before its write ended: the writer removes the file itself.
    abandoned: bool = False


T = TypeVar("T")
R = TypeVar("R")


def _shared_pool() -> ThreadPoolExecutor:
    """The threads blobs are written and folders synced in. None of its tasks ever waits for another of them."""
    return shared_pool("blob-sync", SYNC_THREADS)


def _in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item, at once in a shared pool when there is more than one (each waits on the disk)."""
    if len(items) <= 1:
        return [work(item) for item in items]
    return list(_shared_pool().map(work, items))


#: Blobs from this size on are written with direct I/O (``O_DIRECT``), past the kernel's page cache, whether or not
#: the store syncs: a blob is written once and seldom read soon, and copying it into new page-cache pages cost up to
#: ~1.8 ms of CPU (3 ms, at times 20 ms, of wall time) per MiB on the project's VM, against ~0.25 ms of CPU and
#: ~0.7 ms of waiting for the device without the GIL (a generation's 1 MiB blob: ~2 ms less CPU per request, with
#: its write done in a thread while the rows are written). Below it the copy is cheap.
DIRECT_MIN_BYTES = 256 * 1024
#: Direct I/O moves whole blocks from a block-aligned buffer: a 4096-byte alignment suits every common device.
DIRECT_ALIGNMENT = 4096
#: Each writing thread's aligned buffer: a blob larger than it is written in pieces of this size.
DIRECT_CHUNK_BYTES = 4 * 1024 * 1024

_direct_buffers = threading.local()


def _direct_buffer() -> tuple[mmap.mmap, int]:
    """This thread's page-aligned buffer for direct writes (anonymous memory, reused so it is paid for once), and
    its address."""
    buffer = getattr(_direct_buffers, "buffer", None)
    if buffer is None:
        buffer = _direct_buffers.buffer = mmap.mmap(-1, DIRECT_CHUNK_BYTES)
        # Exported for good (the mapping is never closed or resized): its address, for copies made without the GIL.
        _direct_buffers.address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    return buffer, _direct_buffers.address


def _copy_into(buffer: mmap.mmap, address: int, data: bytes, start: int, length: int) -> None:
    """``data[start:start + length]`` into the start of ``buffer``. ``ctypes.memmove`` lets the GIL go while it
    copies (a slice assignment holds it for the whole megabyte), so the event loop's thread checks and hashes the
    image meanwhile instead of waiting for this one."""
    # A bytes object's own buffer, not a copy (it stays alive: the caller holds it).
    source = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value if type(data) is bytes else None
    if source is not None:
        ctypes.memmove(address, source + start, length)
    else:
        buffer[:length] = memoryview(data)[start : start + length]


def _write_direct(descriptor: int, data: bytes) -> bool:
    """Write ``data`` to the new, empty file ``descriptor``, opened with ``O_DIRECT`` (:func:`_new_incoming`); False
    (having written nothing, and with ``O_DIRECT`` cleared) where the device refuses the alignment, so the caller
    writes it the ordinary way.

    Its system calls are few on purpose: it runs in a thread beside the event loop's, and after each call it needs
    the GIL back, which a busy loop gives up only at its own next call into the kernel (or after the interpreter's
    switch interval, 5 ms): every call more is a chance to wait for it while the answer waits for this write."""
    buffer, address = _direct_buffer()
    written = 0
    try:
        while written < len(data):
            length = min(len(data) - written, DIRECT_CHUNK_BYTES)
            padded = -(-length // DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT
            _copy_into(buffer, address, data, written, length)
            buffer[length:padded] = bytes(padded - length)  # the last block's tail, cut off again below
            with memoryview(buffer) as aligned:
                done = 0
                while done < padded:
                    done += os.write(descriptor, aligned[done:padded])
            written += length
    except OSError as exc:
        if written or exc.errno != errno.EINVAL:
            raise
        # The device refused the alignment: nothing was written, the ordinary way will do.
        fcntl.fcntl(descriptor, fcntl.F_SETFL, fcntl.fcntl(descriptor, fcntl.F_GETFL) & ~os.O_DIRECT)
        os.ftruncate(descriptor, 0)
        os.lseek(descriptor, 0, os.SEEK_SET)
        return False
    if len(data) % DIRECT_ALIGNMENT:
        os.ftruncate(descriptor, len(data))
    return True


#: How a temporary blob file is opened: as :func:`tempfile.mkstemp` opens one (new, private, not through a link).
_INCOMING_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
#: The random part of temporary blob names (as ``tempfile``'s: a name taken already is skipped, ``O_EXCL``).
_incoming_names = random.Random()


def _new_incoming(folder: Path, direct: bool) -> tuple[int, Path, bool]:
    """A new temporary blob file in ``folder``, open for writing: its descriptor, its path, and whether it was
    opened with direct I/O (asked by ``direct``; refused by a filesystem without it, such as an older tmpfs). One
    system call where ``tempfile.mkstemp`` and turning direct I/O on took four (see :func:`_write_direct`)."""
    flags = _INCOMING_FLAGS | (os.O_DIRECT if direct else 0)
    for _ in range(tempfile.TMP_MAX):
        path = folder / f"{INCOMING_PREFIX}{_incoming_names.getrandbits(64):016x}"
        try:
            return os.open(path, flags, 0o600), path, bool(flags & getattr(os, "O_DIRECT", 0))
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno != errno.EINVAL or not flags & getattr(os, "O_DIRECT", 0):
                raise
            flags &= ~os.O_DIRECT  # no direct I/O on this filesystem: the ordinary write
    raise FileExistsError(errno.EEXIST, f"no free temporary name in {folder}")


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

    Every put writes the bytes to a temporary file in the blob's folder and renames it under the hash, so no crash
    ever leaves a half-written blob under its hash. How much more a put promises follows ``sync``, which matches the
    database's own promise for its commits (:func:`sentinel.db.commits_reach_disk`), since a row committed after the
    put names the blob:

    - ``sync=True`` (PostgreSQL; SQLite with ``synchronous=FULL``): the bytes are fsynced before the rename and the
      folder after it, so a committed row never names a blob a power loss could take back. The costly half (write and
      fsync) can be done ahead by :meth:`stage`, outside the caller's transaction, leaving the put a rename and a
      folder sync.
    - ``sync=False`` (the embedded SQLite, ``synchronous=NORMAL``, whose last commits a power loss may take back
      too): write and rename only, no fsync. A blob is written (to the device for a large one, see
      ``DIRECT_MIN_BYTES``; to the kernel's cache otherwise) when the put returns, so a crash of the process loses
      nothing; a power loss may lose the newest blobs as it may lose the newest rows. A 1 MiB blob then costs
      well under a millisecond instead of 2-4 ms of fsyncs on the request path.
    """

    kind = "filesystem"

    def __init__(self, root: Path, sync: bool = True, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.root = root
        #: Readiness fails under this much free space (see :meth:`check_space`).
        self.min_free_bytes = min_free_bytes
        #: When (``time.monotonic``) a write last failed because the folder takes no more bytes; None: never.
        self.full_at: float | None = None
        #: Whether a put syncs the bytes and the folders to disk before it returns (power-loss durable).
        self.sync = sync
        #: Blobs staged and not yet renamed or discarded, by hash: a put of that hash renames one of them.
        self._staged: dict[str, list[StagedBlob]] = {}
        #: Blobs renamed whose folder is not synced yet: a put finding one of them must sync it too before it returns.
        self._unsynced: dict[str, Path] = {}
        self._lock = threading.Lock()
        #: Whether a write ahead made (or found) the store's folder already: it is not looked for every time.
        self._root_made = False

    def describe(self) -> str:
        return f"folder {self.root}"

    def path(self, sha256: str) -> Path:
        check_blob_id(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes, mime: str) -> None:
        self.put_many([(sha256, data, mime)])

    def put_many(self, blobs: Sequence[tuple[str, bytes, str]]) -> None:
        """Every blob under its hash when this returns (synced to disk if ``sync``). A blob staged by :meth:`stage`
        is renamed; the others are written at once (each in a thread), and each folder that gained a name is synced
        once, all at once. A folder that takes no more bytes (full, over quota, read-only) raises BlobStoreError."""
        try:
            self._put_many(blobs)
        except OSError as exc:
            raise self.full_error(exc) from exc

    def full_error(self, exc: OSError) -> OSError | BlobStoreError:
        """A write's OSError as the caller should see it: a folder that takes no more bytes is the store being
        unavailable (503, retried later: the same as an object store that is away), anything else stays a bug."""
        if exc.errno not in FULL_ERRNOS:
            return exc
        with self._lock:  # writes fail together when the disk fills: one of them says so
            now, before = time.monotonic(), self.full_at
            self.full_at = now
        what = {errno.EROFS: "read-only", errno.EACCES: "not writable", errno.EPERM: "not writable"}.get(
            exc.errno or 0, "full"
        )
        error = BlobStoreError(f"the blob store at {self.root} is {what} ({os.strerror(exc.errno or 0)})")
        if before is None or now - before >= FULL_REMEMBERED_SECONDS:
            # Once while it lasts, not once per request: every write fails the same way until space is freed.
            logger.warning("%s", error.message)
        return error

    def check_space(self) -> None:
        """Raise BlobStoreError when the folder is short of space: under ``min_free_bytes`` free, or a write failed
        for want of space within ``FULL_REMEMBERED_SECONDS`` (readiness: a tiny probe file still fits on a disk that
        refuses every image)."""
        full_at = self.full_at
        if full_at is not None and time.monotonic() - full_at < FULL_REMEMBERED_SECONDS:
            raise BlobStoreError(f"the blob store at {self.root} refused a write moments ago (full or not writable)")
        folder = self.root if self.root.exists() else self.root.parent
        try:
            stats = os.statvfs(folder)
        except OSError:
            return  # the probe's own write reports a folder that is not there
        free = stats.f_bavail * stats.f_frsize
        if free < self.min_free_bytes:
            raise BlobStoreError(
                f"the blob store at {self.root} is nearly full: {format_size(free)} free, under the "
                f"{format_size(self.min_free_bytes)} it needs"
            )

    def _put_many(self, blobs: Sequence[tuple[str, bytes, str]]) -> None:
        to_write: list[tuple[Path, bytes]] = []
        folders: set[Path] = set()
        for sha256, data, _mime in blobs:
            path = self.path(sha256)
            staged = self._take_staged(sha256)
            if staged is not None:
                staged.written.wait()  # being written in the background (stage_in_background): its end is near
            temporary = staged.temporary if staged is not None else None
            if path.exists():
                if temporary is not None:
                    temporary.unlink(missing_ok=True)
                with self._lock:
                    pending = self._unsynced.get(sha256)
                if pending is not None:
                    folders.add(pending)  # renamed by a put that has not synced its folder yet: ours must not wait
                continue
            if staged is None or temporary is None:
                to_write.append((path, data))  # nothing staged, or its write failed
                continue
            # Marked before the rename, so a put that sees the name from now on also syncs its folder.
            with self._lock:
                self._unsynced[sha256] = path.parent
            if not staged.folders:
                # Written ahead (:meth:`write_ahead`) in the store's own folder, before its hash named a folder.
                staged.folders = self._make_folders(path.parent)
            try:
                os.replace(temporary, path)
            except FileNotFoundError:
                to_write.append((path, data))  # discarded by a request that stopped waiting: written afresh
                continue
            folders |= staged.folders
        for written in _in_parallel(self._write_and_rename, to_write):
            folders |= written
        if self.sync:
            _in_parallel(fsync_folder, sorted(folders))
        with self._lock:
            for sha256, _data, _mime in blobs:
                self._unsynced.pop(sha256, None)

    def stage(self, sha256: str, data: bytes) -> StagedBlob | None:
        """Write ``data`` aside (and sync it if ``sync``), so a later put of ``sha256`` only renames it: the costly
        half of a put, for a request to do on its own before its rows join a shared transaction. None when the blob
        is already stored. The caller hands the result to :meth:`discard` once its put is done or abandoned."""
        staged = self._reserve(sha256)
        if staged is not None:
            self._write_staged(staged, data)
            if staged.temporary is None:
                self.discard(staged)
                raise BlobStoreError(f"staging blob {sha256} in {self.describe()} failed")
        return staged

    def stage_in_background(self, sha256: str, data: bytes) -> StagedBlob | None:
        """:meth:`stage`, returning at once while the store's own threads write: a put of ``sha256`` meanwhile waits
        for that write and renames the file (or writes the bytes itself if the write failed). For a request to
        overlap its blob's write with its transaction's other statements. Never blocks on the disk but for a stat."""
        staged = self._reserve(sha256)
        if staged is not None:
            _shared_pool().submit(self._write_staged, staged, data)
        return staged

    def write_ahead(self, data: bytes) -> StagedBlob:
        """:meth:`stage_in_background` before the blob's hash is known: the store's threads write ``data`` aside, in
        the store's own folder, while the caller hashes and checks it. :meth:`claim` names it once the hash is known
        (a put then renames it into its folder), or :meth:`discard` drops it."""
        staged = StagedBlob("")
        _shared_pool().submit(self._write_staged, staged, data, True)
        return staged

    def claim(self, staged: StagedBlob, sha256: str) -> StagedBlob | None:
        """A blob from :meth:`write_ahead`, named by its hash so a put of ``sha256`` renames it, as a staged blob (hand
        it to :meth:`discard` once the put is done or abandoned); None, having discarded it, when the store holds
        that blob already."""
        if self.path(sha256).exists():
            self.discard(staged)
            return None
        with self._lock:
            staged.sha256 = sha256
            self._staged.setdefault(sha256, []).append(staged)
        return staged

    def discard(self, staged: StagedBlob) -> None:
        """Forget a staged blob and remove its file, unless a put renamed it already. Does not wait for a write in
        progress: its writer removes the file."""
        with self._lock:
            waiting = self._staged.get(staged.sha256, [])
            if staged in waiting:
                waiting.remove(staged)
                if not waiting:
                    del self._staged[staged.sha256]
            staged.abandoned = True
            temporary = staged.temporary
        if temporary is not None:
            temporary.unlink(missing_ok=True)

    def _reserve(self, sha256: str) -> StagedBlob | None:
        """A staged blob for ``sha256``, registered so a put finds (and waits for) it; None when already stored."""
        if self.path(sha256).exists():
            return None
        staged = StagedBlob(sha256)
        with self._lock:
            self._staged.setdefault(sha256, []).append(staged)
        return staged

    def _write_staged(self, staged: StagedBlob, data: bytes, ahead: bool = False) -> None:
        """Write a reserved blob aside (``ahead``: one not named yet, see :meth:`write_ahead`); on failure its
        ``temporary`` stays None (a put then writes the bytes)."""
        try:
            if ahead:
                # No hash, so no folder of its own yet: the put that renames it makes that folder.
                folder, folders = self.root, set()
                if not self._root_made:
                    self._make_root()
                    self._root_made = True
                try:
                    temporary = self._write_aside(folder, data, self.sync)
                except FileNotFoundError:
                    self._make_root()  # removed since (a test's, an operator's clean-up)
                    temporary = self._write_aside(folder, data, self.sync)
            else:
                folder = self.path(staged.sha256).parent
                folders = self._make_folders(folder)
                temporary = self._write_aside(folder, data, self.sync)
            with self._lock:
                abandoned = staged.abandoned
                if not abandoned:
                    staged.temporary, staged.folders = temporary, folders
            if abandoned:
                temporary.unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno in FULL_ERRNOS:
                # Said here when this write is the first to find the store full: the put that then fails the same way
                # finds it said (a put after a staging that set the time alone warned nobody).
                self.full_error(exc)
            else:
                logger.warning("staging blob %s failed: its put writes it", staged.sha256, exc_info=True)
        except Exception:
            logger.warning("staging blob %s failed: its put writes it", staged.sha256, exc_info=True)
        finally:
            staged.written.set()

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
        temporary = self._write_aside(path.parent, data, self.sync)
        with self._lock:
            self._unsynced[path.name] = path.parent
        try:
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return folders

    def _make_folders(self, folder: Path) -> set[Path]:
        """Create ``folder`` (``root/ab/cd``) as needed; the folders whose entries changed and need a sync. One mkdir
        when the folder or its parent is there already (every image past a store's first few hundred): a stat of the
        root and a refused mkdir per level cost each put ~10 us more."""
        changed = {folder}
        try:
            folder.mkdir()
        except FileExistsError:
            return changed
        except FileNotFoundError:
            if not self.root.is_dir():
                self._make_root()
            try:
                folder.parent.mkdir()
            except FileExistsError:
                pass  # made meanwhile by another put
            else:
                changed.add(folder.parent.parent)
            try:
                folder.mkdir()
            except FileExistsError:
                return changed
        changed.add(folder.parent)
        return changed

    def _make_root(self) -> None:
        """The store's folder, made private (0700), and its parent too when Sentinel makes it (the data folder)."""
        if not self.root.parent.exists():
            private_folder(self.root.parent)
        private_folder(self.root)

    @staticmethod
    def _write_aside(folder: Path, data: bytes, sync: bool = True) -> Path:
        """``data`` in a new temporary file in ``folder`` (synced to disk if ``sync``); removed again if writing
        fails."""
        # Direct I/O for a large blob, synced or not: no copy into new page-cache pages (the costliest CPU of a 1 MiB
        # generation on the project's VM), and, synced, an fsync with only metadata to flush. Unsynced, the put
        # waits for the device's write (not its flush), in a thread alongside the rows.
        large = len(data) >= DIRECT_MIN_BYTES and hasattr(os, "O_DIRECT")
        descriptor, path, direct = _new_incoming(folder, large)
        try:
            try:
                if not (direct and _write_direct(descriptor, data)):
                    view = memoryview(data)
                    while view:
                        view = view[os.write(descriptor, view) :]
                if sync:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def sweep_incoming(self, older_than: datetime) -> int:
        """Remove temporary files a crashed writer left (older than ``older_than``: a live writer's are younger);
        how many went."""
        if not self.root.exists():
            return 0
        removed = 0
        leftovers = itertools.chain(self.root.glob(f"??/??/{INCOMING_PREFIX}*"), self.root.glob(f"{INCOMING_PREFIX}*"))
        for path in leftovers:
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
            self._make_root()
            probe = self.root / ".write-probe"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise BlobStoreError(f"blob folder {self.root} cannot be written: {exc.strerror or exc}") from exc


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while piece := handle.read(CHUNK_BYTES):
            yield piece
