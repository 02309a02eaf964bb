"""A folder blob store whose disk is full, over quota or read-only is "storage unavailable" (503, Retry-After), not
a bare OSError (500 with a traceback), and readiness reports it (K9). The subclass stands in for the kernel: its
write fails as a full disk's does; everything above it is the store's own code."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from sentinel.ops.health import blob_check
from sentinel.store.blobs import BlobStoreError, FilesystemBlobStore
from tests.conftest import png_bytes


class RefusingDisk(FilesystemBlobStore):
    """A folder on a device that takes no more bytes, failing with ``code``."""

    code = errno.ENOSPC

    def _write_aside(self, folder: Path, data: bytes, sync: bool = True) -> Path:  # type: ignore[override]
        raise OSError(self.code, os.strerror(self.code))


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "is full"),
        (errno.EDQUOT, "is full"),
        (errno.EROFS, "is read-only"),
        # A folder the process may not write in (wrong owner or mode, root squashing, an immutable flag): it was a
        # bare PermissionError, a 500 that the SDK retried, and a job bought its image again on every retry.
        (errno.EACCES, "is not writable"),
        (errno.EPERM, "is not writable"),
    ],
)
def test_a_write_the_disk_refuses_is_storage_unavailable_with_retry_after(
    tmp_path: Path, code: int, words: str
) -> None:
    store = RefusingDisk(tmp_path / "blobs", sync=False)
    store.code = code
    data = png_bytes()
    with pytest.raises(BlobStoreError) as refused:
        store.put(hashlib.sha256(data).hexdigest(), data, "image/png")
    error = refused.value
    assert error.status_code == 503 and error.error_type == "storage_unavailable"
    assert f"the blob store at {tmp_path / 'blobs'} {words} ({os.strerror(code)})" == error.message
    assert error.headers and int(error.headers["Retry-After"]) > 0
    # Readiness says so for a while after, though its own tiny probe file still fits.
    with pytest.raises(BlobStoreError, match="full"):
        blob_check(store)


def test_readiness_fails_under_the_free_space_the_settings_ask_for(tmp_path: Path) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    assert blob_check(FilesystemBlobStore(tmp_path / "blobs", min_free_bytes=1)).endswith("is writable")
    with pytest.raises(BlobStoreError, match="nearly full"):
        blob_check(FilesystemBlobStore(tmp_path / "blobs", min_free_bytes=free * 2))


def test_a_store_that_is_not_found_is_not_asked_to_retry(tmp_path: Path) -> None:
    from sentinel.store.blobs import BlobNotFound

    assert BlobNotFound("no blob").headers is None
