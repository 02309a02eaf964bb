"""One contract, three backends: a folder, an S3-compatible object store (tests/s3server.py) and PostgreSQL.

Whatever SENTINEL_BLOB_URL names, a blob written is read back byte for byte, a second write of the same
bytes is one blob, deletes are quiet about what is not there, and a missing blob is one clear error.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from sqlalchemy import text

from sentinel.settings import Settings
from sentinel.store.backends import open_blob_store
from sentinel.store.blobs import CHUNK_BYTES, BlobNotFound, BlobStore, BlobStoreError
from tests.conftest import own_postgres_database, png_bytes


def noisy_png(side: int) -> bytes:
    """A PNG that does not compress: large enough to need several chunks."""
    import numpy as np

    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def blob_database_url() -> Iterator[str]:
    """A database of this module's own: the session's shared one must not be left a ``blobs`` table, which its
    migrations do not make (tests/test_db.py compares the two). Empty, not migrated: ``check`` makes the table."""
    with own_postgres_database(migrated=False) as url:
        yield url


@pytest.fixture(params=["filesystem", "s3", "postgresql"])
def store(request, tmp_path) -> Iterator[BlobStore]:
    if request.param == "filesystem":
        yield open_blob_store(f"file://{tmp_path}/blobs", Settings(data_dir=tmp_path))
        return
    if request.param == "s3":
        yield request.getfixturevalue("s3_store")
        return
    blobs = open_blob_store(request.getfixturevalue("blob_database_url"), Settings(data_dir=tmp_path))
    blobs.check()  # creates the table in this database when it is not there
    with blobs.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("DELETE FROM blobs"))  # the module's tests share the database
    yield blobs
    blobs.engine.dispose()  # type: ignore[attr-defined]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_blob_is_read_back_byte_for_byte_and_streamed_in_bounded_pieces(store) -> None:
    data = noisy_png(700)  # about 1.4 MB
    assert len(data) > 4 * CHUNK_BYTES
    store.put(sha(data), data, "image/png")
    assert store.exists(sha(data))
    assert store.get(sha(data)) == data
    pieces = list(store.stream(sha(data)))
    assert len(pieces) > 1 and all(len(piece) <= CHUNK_BYTES for piece in pieces)
    assert b"".join(pieces) == data


def test_writing_the_same_bytes_twice_is_one_blob(store) -> None:
    data = png_bytes(40, 40)
    store.put(sha(data), data, "image/png")
    store.put(sha(data), data, "image/png")
    entries = [entry for entry in store.entries() if entry.sha256 == sha(data)]
    assert len(entries) == 1
    assert entries[0].size_bytes == len(data)


def test_entries_list_every_blob_with_its_size(store) -> None:
    written = {sha(data): len(data) for data in (png_bytes(20, 20), png_bytes(30, 30), png_bytes(50, 50))}
    for size in (20, 30, 50):
        data = png_bytes(size, size)
        store.put(sha(data), data, "image/png")
    listed = {entry.sha256: entry.size_bytes for entry in store.entries()}
    assert listed == written
    assert all(entry.modified_at.tzinfo is not None for entry in store.entries())


def test_a_deleted_blob_is_gone_and_deleting_it_again_is_quiet(store) -> None:
    data = png_bytes(24, 24)
    store.put(sha(data), data, "image/png")
    store.delete(sha(data))
    assert not store.exists(sha(data))
    store.delete(sha(data))
    with pytest.raises(BlobNotFound, match=sha(data)):
        store.get(sha(data))
    with pytest.raises(BlobNotFound):
        store.stream(sha(data))


def test_an_id_that_is_not_a_sha256_is_refused_before_the_store_is_asked(store) -> None:
    for bad in ("../../etc/passwd", "ABC", "0" * 63, "g" * 64):
        with pytest.raises(ValueError, match="not a sha256"):
            store.get(bad)


def test_check_passes_on_a_working_store_and_leaves_nothing_behind(store) -> None:
    store.check()
    assert list(store.entries()) == []


def test_a_presigned_url_when_the_backend_has_them_serves_the_bytes_with_their_type(store) -> None:
    data = png_bytes(32, 32)
    store.put(sha(data), data, "image/png")
    url = store.presigned_url(sha(data), 300)
    if store.kind != "s3":
        assert url is None  # served by Sentinel's /v1/images/{id}
        return
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == data


def test_a_blob_url_sentinel_does_not_know_is_refused_with_the_forms_it_takes(tmp_path) -> None:
    for url in ("ftp://example.com/blobs", "gs://bucket"):
        with pytest.raises(BlobStoreError, match="s3://bucket"):
            open_blob_store(url, Settings(data_dir=tmp_path))
    with pytest.raises(BlobStoreError, match="local folder"):
        open_blob_store("file://otherhost/path", Settings(data_dir=tmp_path))


def test_blob_url_database_needs_postgresql(tmp_path) -> None:
    with pytest.raises(BlobStoreError, match="not PostgreSQL"):
        open_blob_store("database", Settings(data_dir=tmp_path))
