"""A folder blob store that fills up says so in the log once per full episode, whoever finds it first: a put, or a
staging write (the gateway's path: ``write_ahead``/``claim`` and ``stage_in_background`` before the put, ``stage`` in
a group commit). A staging write that found the store full used to note the time alone, which silenced the put's
warning too: nobody said it."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from collections.abc import Callable

import pytest

from sentinel.store.blobs import BlobStoreError, FilesystemBlobStore

FULL = "is full (No space left on device)"


def blob(number: int) -> tuple[str, bytes]:
    data = f"blob {number}".encode() * 100
    return hashlib.sha256(data).hexdigest(), data


def staged_ahead(store: FilesystemBlobStore, sha256: str, data: bytes) -> None:
    """The gateway's path: written while the caller hashes, named once hashed, then put."""
    ahead = store.write_ahead(data)
    ahead.written.wait()
    staged = store.claim(ahead, sha256)
    assert staged is not None
    with pytest.raises(BlobStoreError, match="is full"):
        store.put(sha256, data, "image/png")
    store.discard(staged)


def staged_in_background(store: FilesystemBlobStore, sha256: str, data: bytes) -> None:
    staged = store.stage_in_background(sha256, data)
    assert staged is not None
    with pytest.raises(BlobStoreError, match="is full"):
        store.put(sha256, data, "image/png")
    store.discard(staged)


def staged_at_once(store: FilesystemBlobStore, sha256: str, data: bytes) -> None:
    """A group commit's staging: it fails, and the group's put then fails the same way."""
    with pytest.raises(BlobStoreError):
        store.stage(sha256, data)
    with pytest.raises(BlobStoreError, match="is full"):
        store.put(sha256, data, "image/png")


@pytest.mark.parametrize("first_write", [staged_ahead, staged_in_background, staged_at_once])
def test_a_full_store_found_by_a_staging_write_is_said_once(
    tmp_path, monkeypatch, caplog, first_write: Callable[[FilesystemBlobStore, str, bytes], None]
) -> None:
    store = FilesystemBlobStore(tmp_path, sync=True)

    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # The disk takes no more bytes: every write's sync fails as a full disk's does.
    monkeypatch.setattr(os, "fsync", disk_full)
    with caplog.at_level(logging.WARNING, logger="sentinel.store.blobs"):
        first_write(store, *blob(1))
        # Later writes of the same episode fail the same way without saying it again.
        for number in (2, 3):
            with pytest.raises(BlobStoreError, match="is full"):
                store.put(*blob(number), "image/png")
    said = [record.getMessage() for record in caplog.records if FULL in record.getMessage()]
    assert len(said) == 1, caplog.text
