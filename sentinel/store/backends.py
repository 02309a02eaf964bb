"""Choosing a blob store from a URL: a folder, an S3-compatible object store or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sentinel.db import commits_reach_disk
from sentinel.settings import Settings
from sentinel.store.blobs import BlobEntry, BlobNotFound, BlobStore, BlobStoreError, FilesystemBlobStore

SCHEMES = "file:///path, s3://bucket/prefix, postgresql://… or database"


def open_blob_store(url: str | None, settings: Settings, named: str = "SENTINEL_BLOB_URL=") -> BlobStore:
    """The store a URL names; unset means the configured folder. Raises BlobStoreError on a bad URL, naming it as
    ``named`` (the setting or the command's option it came from: ``SENTINEL_BLOB_URL=``, ``--to ``)."""
    # A folder's blobs are as durable as the database's commits: synced to disk when those are, else safe from a
    # crash of the process only (the embedded SQLite's synchronous=NORMAL), and no fsync paid per image for nothing.
    sync = commits_reach_disk(settings.resolved_database_url)
    if not url:
        # The setting may be absent from an older settings module: the store's own default then holds.
        min_free_mb = getattr(settings, "blob_min_free_mb", None)
        if min_free_mb is None:
            return FilesystemBlobStore(settings.resolved_blob_dir, sync=sync)
        return FilesystemBlobStore(settings.resolved_blob_dir, sync=sync, min_free_bytes=int(min_free_mb * 1024 * 1024))
    if url == "database":
        database_url = settings.resolved_database_url
        if not database_url.startswith("postgresql"):
            raise BlobStoreError(
                f"{named}database keeps blobs in PostgreSQL, but SENTINEL_DATABASE_URL is not PostgreSQL"
            )
        url = database_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BlobStoreError(f"blob URL {url!r}: a file URL names a local folder, e.g. file:///var/lib/sentinel")
        return FilesystemBlobStore(Path(unquote(parts.path)).resolve(), sync=sync)
    if parts.scheme == "s3":
        from sentinel.store.s3 import S3BlobStore

        return S3BlobStore.from_url(url, settings)
    if parts.scheme.startswith("postgresql"):
        from sentinel.store.pgblobs import PostgresBlobStore

        return PostgresBlobStore(url, settings.database_timeout_seconds)
    raise BlobStoreError(f"blob URL {url!r} is not one Sentinel knows; use {SCHEMES}")


def configured_blob_store(settings: Settings) -> BlobStore:
    """The store this process writes to, reading through to the fallback store while blobs are being moved."""
    primary = open_blob_store(settings.blob_url, settings, "SENTINEL_BLOB_URL=")
    if not settings.blob_fallback_url:
        return primary
    return FallbackBlobStore(
        primary, open_blob_store(settings.blob_fallback_url, settings, "SENTINEL_BLOB_FALLBACK_URL=")
    )


class FallbackBlobStore:
    """Writes go to the new store; a read that misses there is served from the old one (zero-downtime moves)."""

    def __init__(self, primary: BlobStore, fallback: BlobStore) -> None:
        self.primary = primary
        self.fallback = fallback
        self.kind = primary.kind

    def describe(self) -> str:
        return f"{self.primary.describe()} (reading through to {self.fallback.describe()})"

    def put(self, sha256: str, data: bytes, mime: str) -> None:
        self.primary.put(sha256, data, mime)

    def get(self, sha256: str) -> bytes:
        try:
            return self.primary.get(sha256)
        except BlobNotFound:
            return self.fallback.get(sha256)

    def stream(self, sha256: str) -> Iterator[bytes]:
        try:
            return self.primary.stream(sha256)
        except BlobNotFound:
            return self.fallback.stream(sha256)

    def exists(self, sha256: str) -> bool:
        return self.primary.exists(sha256) or self.fallback.exists(sha256)

    def delete(self, sha256: str) -> None:
        self.primary.delete(sha256)
        self.fallback.delete(sha256)

    def entries(self) -> Iterator[BlobEntry]:
        seen: set[str] = set()
        for entry in self.primary.entries():
            seen.add(entry.sha256)
            yield entry
        for entry in self.fallback.entries():
            if entry.sha256 not in seen:
                yield entry

    def presigned_url(self, sha256: str, ttl_seconds: int) -> str | None:
        # Only the new store is signed: a blob still in the old one is served by Sentinel until it is moved.
        if self.primary.exists(sha256):
            return self.primary.presigned_url(sha256, ttl_seconds)
        return None

    def check(self) -> None:
        self.primary.check()
