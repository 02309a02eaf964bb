"""Blobs in a PostgreSQL table: for small deployments that would rather not run an object store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import func, inspect, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from sentinel.db import bound_statements, build_engine
from sentinel.models import Blob
from sentinel.store.blobs import CHUNK_BYTES, BlobEntry, BlobNotFound, BlobStoreError, check_blob_id

BLOBS = Blob.__table__


class PostgresBlobStore:
    """One row per blob in ``blobs``; the table comes with Sentinel's migrations, or is created here when the
    blobs live in a database of their own."""

    kind = "postgresql"

    def __init__(self, url: str, timeout_seconds: float | None = None) -> None:
        self.url = url
        self.engine: Engine = build_engine(url, timeout_seconds)
        if timeout_seconds is not None:
            # A stalled database fails a blob's read or write within the bound, as it does every other query.
            bound_statements(self.engine, timeout_seconds)
        self._table_ready = False

    def describe(self) -> str:
        return f"table blobs in {make_url(self.url).render_as_string(hide_password=True)}"

    def _ready(self) -> Engine:
        if not self._table_ready:
            with self._errors():
                if not inspect(self.engine).has_table(BLOBS.name):
                    with self.engine.begin() as connection:
                        BLOBS.create(connection, checkfirst=True)  # type: ignore[attr-defined]
                        # As in migration 0003: no compression for compressed images, slices readable alone.
                        connection.execute(text("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL"))
            self._table_ready = True
        return self.engine

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, ProgrammingError) as exc:
            raise BlobStoreError(f"blob store {self.describe()} cannot be used: {_reason(exc)}") from exc

    def put(self, sha256: str, data: bytes, mime: str) -> None:
        check_blob_id(sha256)
        row = {"id": sha256, "mime": mime, "size_bytes": len(data), "data": data, "created_at": datetime.now(UTC)}
        with self._errors(), self._ready().begin() as connection:
            connection.execute(insert(BLOBS).values(**row).on_conflict_do_nothing(index_elements=["id"]))

    def get(self, sha256: str) -> bytes:
        check_blob_id(sha256)
        with self._errors(), self._ready().connect() as connection:
            data = connection.execute(select(BLOBS.c.data).where(BLOBS.c.id == sha256)).scalar()
        if data is None:
            raise BlobNotFound(f"no blob {sha256} in {self.describe()}")
        return bytes(data)

    def stream(self, sha256: str) -> Iterator[bytes]:
        check_blob_id(sha256)
        with self._errors(), self._ready().connect() as connection:
            size = connection.execute(select(BLOBS.c.size_bytes).where(BLOBS.c.id == sha256)).scalar()
        if size is None:
            raise BlobNotFound(f"no blob {sha256} in {self.describe()}")
        return self._slices(sha256, size)

    def _slices(self, sha256: str, size: int) -> Iterator[bytes]:
        # substring() on an uncompressed out-of-line value reads only the pages it needs.
        piece = text("SELECT substring(data FROM :start FOR :length) FROM blobs WHERE id = :id")
        with self.engine.connect() as connection:
            for start in range(0, size, CHUNK_BYTES):
                chunk = connection.execute(piece, {"start": start + 1, "length": CHUNK_BYTES, "id": sha256}).scalar()
                if chunk is None:
                    return  # deleted while it was being read: the client sees a short body, not a hang
                yield bytes(chunk)

    def exists(self, sha256: str) -> bool:
        check_blob_id(sha256)
        with self._errors(), self._ready().connect() as connection:
            return connection.execute(select(BLOBS.c.id).where(BLOBS.c.id == sha256)).first() is not None

    def delete(self, sha256: str) -> None:
        check_blob_id(sha256)
        with self._errors(), self._ready().begin() as connection:
            connection.execute(BLOBS.delete().where(BLOBS.c.id == sha256))

    def entries(self) -> Iterator[BlobEntry]:
        query = select(BLOBS.c.id, BLOBS.c.size_bytes, func.coalesce(BLOBS.c.created_at, func.now()))
        with self._errors(), self._ready().connect() as connection:
            for sha256, size, created_at in connection.execution_options(yield_per=1000).execute(query):
                yield BlobEntry(sha256, size, created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC))

    def presigned_url(self, sha256: str, ttl_seconds: int) -> str | None:
        return None

    def check(self) -> None:
        with self._errors(), self._ready().begin() as connection:
            # Proves the table can be written without leaving anything behind.
            connection.execute(BLOBS.delete().where(BLOBS.c.id == "write-probe"))


def _reason(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
