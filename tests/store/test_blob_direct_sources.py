"""A large blob is copied into the direct-I/O buffer without holding the GIL when it is ``bytes`` (a generation's
decoded image): whatever form its bytes come in, and however many buffer-loads it takes, the stored file is the
blob byte for byte, written ahead or put."""

from __future__ import annotations

import hashlib
import os

import pytest

from sentinel.store.blobs import DIRECT_CHUNK_BYTES, INCOMING_PREFIX, FilesystemBlobStore

SIZES = [256 * 1024 + 1, DIRECT_CHUNK_BYTES, 2 * DIRECT_CHUNK_BYTES + 4097]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("form", [bytes, bytearray], ids=["bytes", "bytearray"])
@pytest.mark.parametrize("sync", [True, False], ids=["synced", "unsynced"])
def test_a_large_blob_is_stored_byte_for_byte_whatever_form_its_bytes_take(tmp_path, size, form, sync) -> None:
    data = os.urandom(size)
    sha256 = hashlib.sha256(data).hexdigest()
    store = FilesystemBlobStore(tmp_path, sync=sync)

    store.put(sha256, form(data), "image/png")

    assert store.get(sha256) == data
    assert list(tmp_path.glob(f"**/{INCOMING_PREFIX}*")) == []


@pytest.mark.parametrize("size", SIZES)
def test_a_blob_written_ahead_is_stored_byte_for_byte(tmp_path, size) -> None:
    data = os.urandom(size)
    sha256 = hashlib.sha256(data).hexdigest()
    store = FilesystemBlobStore(tmp_path, sync=False)

    staged = store.write_ahead(data)
    staged.written.wait(30)
    claimed = store.claim(staged, sha256)
    store.put(sha256, data, "image/png")
    assert claimed is not None
    store.discard(claimed)

    assert store.get(sha256) == data
    assert list(tmp_path.glob(f"**/{INCOMING_PREFIX}*")) == []
