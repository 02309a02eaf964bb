"""A folder-kept blob is durable when its put returns, new blobs are written at once rather than one after another,
and no temporary file outlives the write it was for.

Durability is observed through ``os.fsync``: the one OS call these tests record (by the path behind each
descriptor), since a power loss cannot be staged in a test.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sentinel.settings import Settings
from sentinel.store.backends import open_blob_store
from sentinel.store.blobs import INCOMING_PREFIX, BlobStoreError, FilesystemBlobStore
from sentinel.store.maintenance import StorageMaintenance


def blob(number: int) -> tuple[str, bytes]:
    data = f"image bytes {number}".encode() * 100
    return hashlib.sha256(data).hexdigest(), data


def temporary_files(root: Path) -> list[Path]:
    return list(root.glob(f"**/{INCOMING_PREFIX}*"))


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of everything fsynced, in order."""
    paths: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return paths


def test_a_put_syncs_the_blobs_folder_after_its_bytes_and_the_folders_it_created(tmp_path, synced) -> None:
    store = FilesystemBlobStore(tmp_path)
    sha256, data = blob(1)

    store.put(sha256, data, "image/png")

    path = store.path(sha256)
    assert path.read_bytes() == data
    # The bytes first (under a temporary name), then the folder that now names them; and the folders created for
    # it (root/ab/cd), whose own entries must last too.
    [file_sync] = [i for i, p in enumerate(synced) if Path(p).name.startswith(INCOMING_PREFIX)]
    assert synced.index(str(path.parent)) > file_sync
    assert {str(path.parent), str(path.parent.parent), str(tmp_path)} <= set(synced)
    assert temporary_files(tmp_path) == []


def test_a_second_put_of_the_same_bytes_writes_and_syncs_nothing(tmp_path, synced) -> None:
    store = FilesystemBlobStore(tmp_path)
    sha256, data = blob(2)
    store.put(sha256, data, "image/png")
    synced.clear()

    store.put(sha256, data, "image/png")

    assert synced == []


def test_new_blobs_of_one_put_many_are_written_at_once(tmp_path) -> None:
    together = threading.Barrier(3, timeout=30)

    class WaitingForTheOthers(FilesystemBlobStore):
        """Each write waits until all three are being written: written one after another, the first never ends."""

        @staticmethod
        def _write_aside(folder: Path, data: bytes, sync: bool = True) -> Path:
            together.wait()
            return FilesystemBlobStore._write_aside(folder, data, sync)

    store = WaitingForTheOthers(tmp_path)
    blobs = [blob(n) for n in range(3)]

    store.put_many([(sha256, data, "image/png") for sha256, data in blobs])

    assert [store.get(sha256) for sha256, _ in blobs] == [data for _, data in blobs]


def test_a_staged_blob_is_renamed_by_the_put_not_written_again(tmp_path, synced) -> None:
    store = FilesystemBlobStore(tmp_path)
    sha256, data = blob(3)
    staged = store.stage(sha256, data)
    assert staged is not None and not store.exists(sha256)
    synced.clear()

    store.put(sha256, data, "image/png")
    store.discard(staged)

    assert store.get(sha256) == data
    # Only folders are synced now (its own, and those staging created): the bytes were synced when staged.
    folder = store.path(sha256).parent
    assert sorted(synced) == sorted({str(tmp_path), str(folder.parent), str(folder)})
    assert temporary_files(tmp_path) == []
    assert store.stage(sha256, data) is None  # stored already: nothing to stage


def test_a_discarded_stage_leaves_no_file_and_no_blob(tmp_path) -> None:
    store = FilesystemBlobStore(tmp_path)
    sha256, data = blob(4)
    staged = store.stage(sha256, data)
    assert staged is not None

    store.discard(staged)

    assert temporary_files(tmp_path) == [] and not store.exists(sha256)
    assert [entry.sha256 for entry in store.entries()] == []


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch) -> None:
    store = FilesystemBlobStore(tmp_path)
    sha256, data = blob(5)

    def disk_full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    # A full disk is the store being unavailable (503, retried later), not a bare OSError.
    with pytest.raises(BlobStoreError, match="is full \\(No space left on device\\)"):
        store.put(sha256, data, "image/png")

    assert temporary_files(tmp_path) == [] and not store.exists(sha256)


def test_the_sweep_removes_what_a_crashed_writer_left_and_spares_a_live_one(tmp_path) -> None:
    store = FilesystemBlobStore(tmp_path)
    sha256, data = blob(6)
    store.put(sha256, data, "image/png")
    folder = store.path(sha256).parent
    crashed = folder / f"{INCOMING_PREFIX}crashed"
    crashed.write_bytes(b"half")
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(crashed, (an_hour_ago, an_hour_ago))
    live = folder / f"{INCOMING_PREFIX}live"
    live.write_bytes(b"being written")

    removed = store.sweep_incoming(datetime.now(UTC) - timedelta(minutes=10))

    assert removed == 1 and not crashed.exists() and live.exists()
    assert store.get(sha256) == data


def test_storage_gc_removes_temporary_files_a_crashed_writer_left(tmp_path) -> None:
    from sentinel.settings import Settings
    from sentinel.wiring import build_services

    services = build_services(Settings(data_dir=tmp_path))
    store = services.images.blobs
    assert isinstance(store, FilesystemBlobStore)
    sha256, data = blob(7)
    store.put(sha256, data, "image/png")
    crashed = store.path(sha256).parent / f"{INCOMING_PREFIX}crashed"
    crashed.write_bytes(b"half")
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(crashed, (an_hour_ago, an_hour_ago))

    report = StorageMaintenance(services.engine, store).gc(grace=timedelta(minutes=10))

    services.engine.dispose()
    assert report.leftover_files == 1 and not crashed.exists()


def test_a_store_that_matches_a_database_without_synced_commits_writes_and_renames_without_syncing(
    tmp_path, synced
) -> None:
    store = FilesystemBlobStore(tmp_path, sync=False)
    sha256, data = blob(7)
    staged_sha256, staged_data = blob(8)
    staged = store.stage(staged_sha256, staged_data)
    assert staged is not None

    store.put_many([(sha256, data, "image/png"), (staged_sha256, staged_data, "image/png")])
    store.discard(staged)

    # Whole under their names (written aside, then renamed), and nothing waited for the disk.
    assert store.get(sha256) == data and store.get(staged_sha256) == staged_data
    assert synced == []
    assert temporary_files(tmp_path) == []


@pytest.mark.parametrize(
    ("database_url", "blob_url", "syncs"),
    [
        (None, None, False),  # the embedded default: SQLite at synchronous=NORMAL, blobs in its data folder
        (None, "file:///{tmp}/elsewhere", False),
        ("postgresql://sentinel@127.0.0.1/sentinel", None, True),
        ("postgresql://sentinel@127.0.0.1/sentinel", "file:///{tmp}/elsewhere", True),
    ],
)
def test_a_blob_folder_syncs_to_disk_exactly_when_the_database_commits_do(
    tmp_path, synced, database_url, blob_url, syncs
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        blob_url=blob_url.format(tmp=tmp_path) if blob_url else None,
    )
    store = open_blob_store(settings.blob_url, settings)
    sha256, data = blob(9)

    store.put(sha256, data, "image/png")

    assert store.get(sha256) == data
    assert bool(synced) is syncs


@pytest.mark.parametrize("size", [256 * 1024 - 1, 256 * 1024, 1024 * 1024 + 7, 9 * 1024 * 1024 + 4095])
@pytest.mark.parametrize("sync", [True, False])
def test_a_large_blob_is_stored_byte_for_byte_whatever_its_length(tmp_path, size, sync) -> None:
    # A syncing store writes large blobs past the page cache in whole blocks (a piece at a time past 4 MiB): the
    # length is the blob's all the same.
    store = FilesystemBlobStore(tmp_path, sync=sync)
    data = os.urandom(size)
    sha256 = hashlib.sha256(data).hexdigest()

    store.put(sha256, data, "image/png")

    assert store.get(sha256) == data
    assert temporary_files(tmp_path) == []


@pytest.mark.parametrize("sync", [True, False], ids=["synced", "unsynced"])
def test_a_large_blob_is_written_past_the_page_cache_whether_or_not_the_store_syncs(
    tmp_path, monkeypatch, sync
) -> None:
    # Copying a MiB into new page-cache pages was the costliest CPU of a generation on the project's VM; direct I/O
    # moves it to the device without that copy, and small blobs keep the ordinary write.
    real_open = os.open
    direct: list[str] = []

    def watching(path: str | os.PathLike[str], flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_DIRECT:
            direct.append(str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching)
    # Opened for direct I/O, not switched to it afterwards: each system call more of the writing thread is a wait
    # more for the GIL, which the event loop's thread holds while it sends the answer that waits for this write.
    switched: list[int] = []
    monkeypatch.setattr(fcntl, "fcntl", lambda descriptor, *args: switched.append(descriptor))
    store = FilesystemBlobStore(tmp_path, sync=sync)
    large, small = os.urandom(1024 * 1024 + 5), os.urandom(1000)

    store.put(hashlib.sha256(small).hexdigest(), small, "image/png")
    assert direct == []
    store.put(hashlib.sha256(large).hexdigest(), large, "image/png")

    assert len(direct) == 1
    assert switched == []
    assert store.get(hashlib.sha256(large).hexdigest()) == large
    assert temporary_files(tmp_path) == []


@pytest.mark.parametrize("sync", [True, False], ids=["synced", "unsynced"])
def test_a_large_blob_on_a_filesystem_without_direct_io_is_stored_all_the_same(tmp_path, monkeypatch, sync) -> None:
    real_open = os.open

    def refusing_direct_io(path: str | os.PathLike[str], flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")  # as a filesystem without direct I/O answers
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_direct_io)
    store = FilesystemBlobStore(tmp_path, sync=sync)
    data = os.urandom(1024 * 1024 + 3)
    sha256 = hashlib.sha256(data).hexdigest()

    store.put(sha256, data, "image/png")

    assert store.get(sha256) == data


@pytest.mark.parametrize("sync", [True, False], ids=["synced", "unsynced"])
def test_a_large_blob_whose_device_refuses_direct_writes_is_stored_all_the_same(tmp_path, monkeypatch, sync) -> None:
    # The file opens for direct I/O, and its first write is refused (a device with another alignment): the blob is
    # written the ordinary way, whole, and no temporary file is left.
    real_write = os.write

    def refusing_direct_writes(descriptor: int, data: Any) -> int:
        if fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", refusing_direct_writes)
    store = FilesystemBlobStore(tmp_path, sync=sync)
    data = os.urandom(1024 * 1024 + 3)
    sha256 = hashlib.sha256(data).hexdigest()

    store.put(sha256, data, "image/png")

    assert store.get(sha256) == data
    assert temporary_files(tmp_path) == []
