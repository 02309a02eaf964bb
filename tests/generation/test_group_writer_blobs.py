"""The new images of generations finishing together are written at once, each by its own request before its rows
join the group commit, and none of them leaves a temporary file behind, even when its request is cancelled."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

from sqlalchemy import event
from sqlmodel import Session

from sentinel.generation.records import GroupWriter
from sentinel.models import StoredImage
from sentinel.services import Services
from sentinel.store.blobs import INCOMING_PREFIX, FilesystemBlobStore
from tests.conftest import png_bytes
from tests.generation.test_generation_service import calls_of, services
from tests.generation.test_group_writer import record_of

__all__ = ["services"]  # a fixture, imported for pytest


def blob_store_waiting_for(services: Services, writers: int) -> threading.Barrier:
    """Swap in a blob store whose every write waits until ``writers`` writes are under way at once."""
    together = threading.Barrier(writers, timeout=30)

    class WaitingForTheOthers(FilesystemBlobStore):
        @staticmethod
        def _write_aside(folder: Path, data: bytes, sync: bool = True) -> Path:
            together.wait()
            return FilesystemBlobStore._write_aside(folder, data, sync)

    services.images.blobs = WaitingForTheOthers(services.images.blobs.root)
    return together


def test_new_images_of_concurrent_requests_are_written_at_once_not_one_after_another(services) -> None:
    # Written one after another (as a group commit putting its blobs in turn did), the first write would wait for
    # the others forever.
    blob_store_waiting_for(services, 3)
    images = [png_bytes(50 + i, 40, (20 * i, 90, 30)) for i in range(3)]
    records = [record_of(services, data) for data in images]

    async def go() -> None:
        writer = GroupWriter(lambda: services.engine, services.images)
        await asyncio.gather(*(writer.record(record) for record, _ in records))

    asyncio.run(go())

    with Session(services.engine) as session:
        for data, (_, request_id) in zip(images, records, strict=True):
            sha256 = hashlib.sha256(data).hexdigest()
            assert session.get(StoredImage, sha256) is not None
            assert services.images.read(sha256) == data
            assert [call.image_id for call in calls_of(services, request_id)] == [sha256]
    assert list(services.images.blobs.root.glob(f"**/{INCOMING_PREFIX}*")) == []


def test_a_request_cancelled_while_its_image_is_written_still_has_it_recorded(services) -> None:
    # The first request's group is being written when the second arrives: the second writes its image on its own
    # meanwhile, and is cancelled while it does.
    together = blob_store_waiting_for(services, 3)
    first_data, second_data = png_bytes(61, 40), png_bytes(62, 40)
    first, _ = record_of(services, first_data)
    second, second_id = record_of(services, second_data)

    async def go() -> None:
        writer = GroupWriter(lambda: services.engine, services.images)
        earlier = asyncio.ensure_future(writer.record(first))
        await asyncio.sleep(0)  # its group is now being written
        cancelled = asyncio.ensure_future(writer.record(second))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.to_thread(together.wait)  # both writes go on, the second after its request was cancelled
        await earlier
        async with asyncio.timeout(30):  # a guard against hanging, not a measure
            while not calls_of(services, second_id):
                await asyncio.sleep(0.01)
        assert cancelled.cancelled()

    asyncio.run(go())

    for data in (first_data, second_data):
        assert services.images.read(hashlib.sha256(data).hexdigest()) == data
    assert list(services.images.blobs.root.glob(f"**/{INCOMING_PREFIX}*")) == []


def test_a_lone_requests_image_is_written_while_its_rows_are_and_named_only_after_them(services, monkeypatch) -> None:
    # The row's statement waits until the image's bytes are being written: written after the statements, as a put in
    # the same thread did, the write would never start and the statement would give up waiting.
    data = png_bytes(71, 40)
    record, request_id = record_of(services, data)
    sha256 = hashlib.sha256(data).hexdigest()
    writing = threading.Event()
    named_before_its_row: list[bool] = []

    write_aside = FilesystemBlobStore._write_aside

    def signalling_write(*arguments: object) -> Path:
        writing.set()
        return write_aside(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(FilesystemBlobStore, "_write_aside", staticmethod(signalling_write))
    store = services.images.blobs

    def before_a_statement(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("INSERT INTO images "):
            assert writing.wait(timeout=30), "the image's bytes were not being written while its row was"
            named_before_its_row.append(store.exists(sha256))

    event.listen(services.engine, "before_cursor_execute", before_a_statement)
    try:
        asyncio.run(GroupWriter(lambda: services.engine, services.images).record(record))
    finally:
        event.remove(services.engine, "before_cursor_execute", before_a_statement)

    assert named_before_its_row == [False]  # the row first; the blob appears under its name after it
    assert services.images.read(sha256) == data
    assert [call.image_id for call in calls_of(services, request_id)] == [sha256]
    assert list(store.root.glob(f"**/{INCOMING_PREFIX}*")) == []
