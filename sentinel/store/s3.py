"""Blobs in an S3-compatible object store (AWS S3, MinIO, R2, GCS interoperability): ``s3://bucket/prefix``.

A blob lives at ``prefix/ab/<sha256>``. Uploads carry the sha256 as ``x-amz-checksum-sha256``, so the store
itself refuses bytes that do not match their id. Every botocore error leaves this module as a BlobStoreError
whose message names the bucket and endpoint and says what to check.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError, PartialCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from sentinel.settings import Settings
from sentinel.store.blobs import (
    CHUNK_BYTES,
    IMMUTABLE_CACHE_CONTROL,
    BlobEntry,
    BlobNotFound,
    BlobStoreError,
    check_blob_id,
    is_sha256,
)

_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_REFUSED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "403",
    "Forbidden",
}


def s3_client(
    settings: Settings,
    endpoint_url: str | None,
    *,
    max_attempts: int = 3,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
) -> Any:
    """A boto3 S3 client for ``endpoint_url`` (AWS's own if None) with the settings' region and credentials."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if settings.s3_path_style else None,
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=32,
    )
    credentials = {}
    if settings.s3_access_key_id or settings.s3_secret_access_key:
        credentials = {
            "aws_access_key_id": settings.s3_access_key_id,
            "aws_secret_access_key": settings.s3_secret_access_key,
        }
    # A session of its own: boto3's default session is not safe to build clients from in several threads.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=settings.s3_region, config=config, **credentials)


class S3BlobStore:
    """Content-addressed blobs as objects ``{prefix}/{sha[:2]}/{sha}`` in one bucket."""

    kind = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str = "", presign_client: Any | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        #: Signs presigned URLs: a client for the address clients reach the store by, if it differs.
        self.presign_client = presign_client or client

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> S3BlobStore:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise BlobStoreError(f"blob URL {url!r} names no bucket; write it as s3://bucket or s3://bucket/prefix")
        client = s3_client(settings, settings.s3_endpoint_url)
        presign_client = None
        if settings.s3_public_endpoint_url:
            presign_client = s3_client(settings, settings.s3_public_endpoint_url)
        return cls(client, parts.netloc, parts.path, presign_client)

    @property
    def endpoint(self) -> str:
        return self.client.meta.endpoint_url

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return f"{where} at {self.endpoint}"

    def key(self, sha256: str) -> str:
        check_blob_id(sha256)
        name = f"{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, sha256: str, data: bytes, mime: str) -> None:
        # No HEAD first: the same bytes put twice are still one object, and a round trip is saved.
        key = self.key(sha256)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=mime,
                CacheControl=IMMUTABLE_CACHE_CONTROL,
                # The id is the sha256 of the bytes: the store checks them for free and refuses a mismatch.
                ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"storing blob {sha256}") from exc

    def get(self, sha256: str) -> bytes:
        body = self._get_body(sha256)
        try:
            with body:
                return body.read()
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"reading blob {sha256}") from exc

    def stream(self, sha256: str) -> Iterator[bytes]:
        body = self._get_body(sha256)  # eagerly, so a missing blob raises here and not at the first piece
        return self._pieces(body, sha256)

    def _pieces(self, body: Any, sha256: str) -> Iterator[bytes]:
        try:
            with body:
                yield from body.iter_chunks(CHUNK_BYTES)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"reading blob {sha256}") from exc

    def _get_body(self, sha256: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"reading blob {sha256}", missing_key=True) from exc

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except (BotoCoreError, ClientError) as exc:
            error = self._error(exc, f"looking for blob {sha256}", missing_key=True)
            if isinstance(error, BlobNotFound):
                return False
            raise error from exc
        return True

    def delete(self, sha256: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))  # no error when it is not there
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"deleting blob {sha256}") from exc

    def entries(self) -> Iterator[BlobEntry]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    # Only our own layout: a foreign object under the prefix is none of our business.
                    if is_sha256(name) and item["Key"] == self.key(name):
                        yield BlobEntry(name, item["Size"], item["LastModified"])
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "listing blobs") from exc

    def presigned_url(self, sha256: str, ttl_seconds: int) -> str | None:
        # Pure signing, no request: the URL is checked by the store when a client fetches it.
        try:
            return self.presign_client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self.key(sha256)}, ExpiresIn=ttl_seconds
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"signing a URL for blob {sha256}") from exc

    def check(self) -> None:
        probe = f"{self.prefix}/.write-probe" if self.prefix else ".write-probe"
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "writing a probe object") from exc

    def _error(self, exc: Exception, doing: str, missing_key: bool = False) -> BlobStoreError:
        """The botocore error as a BlobStoreError a person can act on; never carries a secret."""
        where = f"bucket {self.bucket!r} at {self.endpoint}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return BlobStoreError(f"{where} does not exist (while {doing}); create it or fix SENTINEL_BLOB_URL")
            if missing_key and (code in _MISSING_KEY or status == 404):
                return BlobNotFound(f"no blob in {self.describe()} (while {doing})")
            if code in _REFUSED or status == 403:
                return BlobStoreError(
                    f"the object store refused the credentials for {where} ({code or status}, while {doing}); "
                    "check SENTINEL_S3_ACCESS_KEY_ID / SENTINEL_S3_SECRET_ACCESS_KEY or AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY, and that the key may read and write the bucket"
                )
            message = exc.response.get("Error", {}).get("Message") or "no message"
            return BlobStoreError(f"the object store answered {code or status} for {where} while {doing}: {message}")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return BlobStoreError(
                f"no credentials found for {where}; set SENTINEL_S3_ACCESS_KEY_ID and SENTINEL_S3_SECRET_ACCESS_KEY "
                "(or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile or an instance role)"
            )
        if isinstance(exc, (BotoConnectionError, HTTPClientError)):  # EndpointConnectionError, timeouts, resets
            return BlobStoreError(
                f"cannot reach the object store at {self.endpoint} for bucket {self.bucket!r} (while {doing}): "
                f"{type(exc).__name__}; check SENTINEL_S3_ENDPOINT_URL and the network"
            )
        return BlobStoreError(f"object store error for {where} while {doing}: {type(exc).__name__}: {exc}")
