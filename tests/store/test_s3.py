"""The S3 blob store against a real S3-compatible server over HTTP (tests/s3server.py: moto, made stricter)."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from sentinel.settings import Settings
from sentinel.store.backends import open_blob_store
from sentinel.store.blobs import CHUNK_BYTES, IMMUTABLE_CACHE_CONTROL, BlobNotFound, BlobStoreError
from sentinel.store.s3 import S3BlobStore, s3_client
from tests.conftest import free_port, png_bytes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def noisy_png(width: int = 800, height: int = 600) -> bytes:
    """A PNG of random pixels: it does not compress, so it is well over 1 MiB."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def store_for(server, bucket: str, prefix: str = "", **overrides: object) -> S3BlobStore:
    settings = Settings(**{**server.settings_values(bucket, prefix), **overrides})
    return S3BlobStore.from_url(settings.blob_url, settings)


def test_put_get_stream_exists_delete_round_trip(s3_store: S3BlobStore) -> None:
    data = noisy_png()
    assert len(data) > 1024 * 1024
    blob = sha(data)
    assert not s3_store.exists(blob)

    s3_store.put(blob, data, "image/png")

    assert s3_store.exists(blob)
    assert s3_store.get(blob) == data
    pieces = list(s3_store.stream(blob))
    assert len(pieces) > 1
    assert all(0 < len(piece) <= CHUNK_BYTES for piece in pieces)
    assert b"".join(pieces) == data
    key = f"blobs/test/{blob[:2]}/{blob}"
    assert s3_store.client.head_object(Bucket=s3_store.bucket, Key=key)["ContentType"] == "image/png"

    s3_store.delete(blob)
    assert not s3_store.exists(blob)
    with pytest.raises(BlobNotFound):
        s3_store.get(blob)
    with pytest.raises(BlobNotFound):
        s3_store.stream(blob)  # raised on the call, before anything is iterated
    s3_store.delete(blob)  # deleting what is not there is fine
    with pytest.raises(ValueError):
        s3_store.get("../../etc/passwd")


def test_same_bytes_twice_is_one_object(s3_store: S3BlobStore) -> None:
    data = png_bytes()
    s3_store.put(sha(data), data, "image/png")
    s3_store.put(sha(data), data, "image/png")
    listing = s3_store.client.list_objects_v2(Bucket=s3_store.bucket, Prefix="blobs/test/")
    assert listing["KeyCount"] == 1
    assert [entry.sha256 for entry in s3_store.entries()] == [sha(data)]


def test_bytes_that_do_not_match_their_id_are_refused_by_the_store(s3_store: S3BlobStore) -> None:
    data = png_bytes()
    wrong = sha(b"something else")
    with pytest.raises(BlobStoreError, match="BadDigest"):
        s3_store.put(wrong, data, "image/png")
    assert not s3_store.exists(wrong)


def test_presigned_get_serves_the_bytes_without_credentials(s3_store: S3BlobStore) -> None:
    data = png_bytes()
    s3_store.put(sha(data), data, "image/png")
    url = s3_store.presigned_url(sha(data), 600)

    response = httpx.get(url)

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == IMMUTABLE_CACHE_CONTROL


def test_presigned_url_expires(s3_store: S3BlobStore) -> None:
    data = png_bytes()
    s3_store.put(sha(data), data, "image/png")
    # 2 s, not 1: X-Amz-Date has whole seconds, so a 1 s URL signed at x.999 would be valid for 1 ms.
    url = s3_store.presigned_url(sha(data), 2)
    assert httpx.get(url).status_code == 200

    query = parse_qs(urlsplit(url).query)
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expiry = signed_at + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.2)  # waiting for a deadline

    response = httpx.get(url)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text
    assert "Request has expired" in response.text


def test_presigning_uses_the_public_endpoint(s3_server) -> None:
    bucket = s3_server.create_bucket()
    # Clients reach the same server by another name than Sentinel does.
    public = s3_server.endpoint_url.replace("127.0.0.1", "localhost")
    store = store_for(s3_server, bucket, "imgs", s3_public_endpoint_url=public)
    data = png_bytes()
    store.put(sha(data), data, "image/png")

    url = store.presigned_url(sha(data), 600)

    parts = urlsplit(url)
    assert parts.hostname == "localhost"
    assert parts.path == f"/{bucket}/imgs/{sha(data)[:2]}/{sha(data)}"
    assert httpx.get(url).content == data
    assert "127.0.0.1" in store.describe()  # Sentinel itself still talks to the internal address
    other = store_for(s3_server, bucket, "imgs", s3_public_endpoint_url="https://images.example.com:9443")
    assert urlsplit(other.presigned_url(sha(data), 60)).netloc == "images.example.com:9443"  # signing only


def test_entries_lists_blobs_with_sizes_and_ignores_foreign_keys(s3_store: S3BlobStore) -> None:
    blobs = [png_bytes(16, 16), png_bytes(64, 48), png_bytes(120, 90, (0, 200, 0))]
    for data in blobs:
        s3_store.put(sha(data), data, "image/png")
    one = sha(blobs[0])
    client, bucket = s3_store.client, s3_store.bucket
    for foreign in [
        "blobs/test/notes.txt",
        f"blobs/test/{one}",  # not in its two-letter folder
        f"blobs/test/zz/{one}",  # the wrong folder
        f"blobs/test/{one[:2]}/{one}.partial",
        f"blobs/test/x/{one[:2]}/{one}",
        f"blobs/test-old/{one[:2]}/{one}",  # a sibling prefix
        f"elsewhere/{one[:2]}/{one}",
    ]:
        client.put_object(Bucket=bucket, Key=foreign, Body=b"not ours")

    entries = list(s3_store.entries())

    assert {entry.sha256: entry.size_bytes for entry in entries} == {sha(data): len(data) for data in blobs}
    for entry in entries:
        assert abs(entry.modified_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_check_proves_write_access_and_leaves_nothing(s3_store: S3BlobStore) -> None:
    s3_store.check()
    assert s3_store.client.list_objects_v2(Bucket=s3_store.bucket)["KeyCount"] == 0


def test_describe_names_bucket_prefix_and_endpoint_but_no_secret(s3_server) -> None:
    store = store_for(s3_server, "bucket-one", "a/b/")
    assert store.describe() == f"s3://bucket-one/a/b at {s3_server.endpoint_url}"
    assert s3_server.secret_access_key not in store.describe()
    assert s3_server.secret_access_key not in repr(Settings(**s3_server.settings_values("bucket-one")))


def test_the_env_variables_point_sentinel_at_the_server(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_server.create_bucket()
    for name, value in s3_server.env(bucket, "from-env").items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    store = open_blob_store(settings.blob_url, settings)
    data = png_bytes()
    store.put(sha(data), data, "image/png")
    assert store.kind == "s3"
    assert store.describe() == f"s3://{bucket}/from-env at {s3_server.endpoint_url}"
    assert store.get(sha(data)) == data


def test_missing_bucket_is_named(s3_server) -> None:
    store = store_for(s3_server, "sentinel-no-such-bucket", "p")
    data = png_bytes()
    for attempt in (store.check, lambda: store.put(sha(data), data, "image/png"), lambda: store.get(sha(data))):
        with pytest.raises(BlobStoreError) as caught:
            attempt()
        assert not isinstance(caught.value, BlobNotFound)
        assert "'sentinel-no-such-bucket'" in str(caught.value)
        assert "does not exist" in str(caught.value)


def test_the_right_key_pair_works_on_the_checking_server(s3_auth_server) -> None:
    store = store_for(s3_auth_server, s3_auth_server.create_bucket(), "p")
    store.check()
    data = png_bytes()
    store.put(sha(data), data, "image/png")
    assert store.get(sha(data)) == data


@pytest.mark.parametrize("wrong", ["access key", "secret"])
def test_refused_credentials_say_so_without_the_secret(s3_auth_server, wrong: str) -> None:
    bucket = s3_auth_server.create_bucket()
    if wrong == "access key":
        overrides = {"s3_access_key_id": "AKIAWRONGWRONGWRONG0"}
        secret = s3_auth_server.secret_access_key
    else:
        secret = "not-the-secret-but-still-a-secret"
        overrides = {"s3_secret_access_key": secret}
    store = store_for(s3_auth_server, bucket, "p", **overrides)
    data = png_bytes()

    for attempt in (store.check, lambda: store.put(sha(data), data, "image/png"), lambda: store.exists(sha(data))):
        with pytest.raises(BlobStoreError) as caught:
            attempt()
        message = str(caught.value)
        assert not isinstance(caught.value, BlobNotFound)
        assert "refused the credentials" in message
        assert "SENTINEL_S3_ACCESS_KEY_ID" in message
        assert repr(bucket) in message
        assert secret not in message
        assert s3_auth_server.secret_access_key not in message


def test_unreachable_endpoint_fails_fast_and_says_so() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings(
        s3_region="us-east-1", s3_access_key_id="k", s3_secret_access_key="s3cr3t-value", s3_path_style=True
    )
    store = S3BlobStore(s3_client(settings, endpoint, max_attempts=1, connect_timeout=1, read_timeout=1), "bucket-one")
    started = time.monotonic()
    with pytest.raises(BlobStoreError, match=f"cannot reach the object store at {endpoint}"):
        store.check()
    assert time.monotonic() - started < 5


def test_no_credentials_anywhere_says_so(s3_server, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = s3_server.create_bucket()
    store = store_for(s3_server, bucket, s3_access_key_id=None, s3_secret_access_key=None)
    with pytest.raises(BlobStoreError, match="no credentials found"):
        store.check()


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix/only"])
def test_a_blob_url_without_a_bucket_is_refused(url: str) -> None:
    with pytest.raises(BlobStoreError, match="names no bucket"):
        S3BlobStore.from_url(url, Settings())
    with pytest.raises(BlobStoreError, match="names no bucket"):
        open_blob_store(url, Settings())
