"""Generations finishing together share one commit of their images and call logs, and none of them returns before
its own rows are committed: one that cannot be stored fails alone. Against a fake OpenAI-style provider and real
SQLite and blob folders; the storage fault is a real one (a blob's folder that cannot be made)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
import uuid

import numpy as np
import pytest
from PIL import Image
from sqlmodel import Session, select

from sentinel.generation.records import GroupWriter, Record
from sentinel.generation.service import Generation
from sentinel.models import ProviderCall, StoredImage
from sentinel.providers.calls import call_values
from sentinel.providers.router import Attempt
from sentinel.services import Services
from sentinel.store.images import inspect_image
from tests.conftest import png_bytes
from tests.generation.test_generation_service import calls_of, fake, generation_service, request_for, services

__all__ = ["fake", "services"]  # fixtures, imported for pytest


def noise(target_bytes: int, seed: int) -> bytes:
    """A PNG of incompressible noise, about ``target_bytes`` long, different for each seed."""
    side = int((target_bytes / 3) ** 0.5)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def block_blob_folder(services: Services, sha256: str) -> None:
    """Make the blob of ``sha256`` impossible to write: a file stands where its folder must be made."""
    root = services.images.blobs.root
    (root / sha256[:2]).mkdir(parents=True, exist_ok=True)
    (root / sha256[:2] / sha256[2:4]).write_bytes(b"in the way")


def record_of(services: Services, data: bytes) -> tuple[Record, str]:
    info = inspect_image(data, max_bytes=10**8, max_pixels=10**8)
    request_id = f"gen_{uuid.uuid4().hex}"
    calls = call_values(
        request_id, "solo", [Attempt("fake", "dall-e-3", "ok", 3.0, "", 200, len(data), 0.04)], info.sha256
    )
    return Record(images=[(info, data, None)], calls=calls), request_id


def test_records_written_together_commit_together_and_one_that_cannot_be_stored_fails_alone(services) -> None:
    images = [png_bytes(40 + i, 40, (10 * i, 80, 120)) for i in range(3)]
    records = [record_of(services, data) for data in images]
    broken = hashlib.sha256(images[1]).hexdigest()
    block_blob_folder(services, broken)

    async def go() -> list[BaseException | None]:
        writer = GroupWriter(lambda: services.engine, services.images)
        return await asyncio.gather(*(writer.record(record) for record, _ in records), return_exceptions=True)

    outcomes = asyncio.run(go())

    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], OSError)
    with Session(services.engine) as session:
        for index, (data, (_, request_id)) in enumerate(zip(images, records, strict=True)):
            sha256 = hashlib.sha256(data).hexdigest()
            stored = session.get(StoredImage, sha256) is not None
            logged = session.exec(select(ProviderCall).where(ProviderCall.request_id == request_id)).all()
            if index == 1:
                # Neither its row nor its call log: the caller was told its image could not be kept.
                assert not stored and not logged
            else:
                assert stored and len(logged) == 1 and logged[0].image_id == sha256
                assert services.images.read(sha256) == data


def test_the_fallback_runs_only_for_a_record_whose_rows_could_not_be_written(services) -> None:
    # The spend is settled in the rows' own transaction; the fallback (the calls written again alone) is for a record
    # whose rows failed, and a fallback that fails too does not hide why the rows failed.
    ran: list[str] = []
    kept, _ = record_of(services, png_bytes(30, 30))
    kept.then = lambda failure: ran.append("kept")
    lost_image = png_bytes(31, 30)
    lost, _ = record_of(services, lost_image)
    lost.then = lambda failure: ran.append(f"lost: {type(failure).__name__}")
    block_blob_folder(services, hashlib.sha256(lost_image).hexdigest())
    also_lost_image = png_bytes(32, 30)
    also_lost, _ = record_of(services, also_lost_image)
    block_blob_folder(services, hashlib.sha256(also_lost_image).hexdigest())

    def refuse(failure: Exception) -> None:
        raise RuntimeError("the ledger is away")

    also_lost.then = refuse

    async def go() -> list[BaseException | None]:
        writer = GroupWriter(lambda: services.engine, services.images)
        return await asyncio.gather(*(writer.record(r) for r in (kept, lost, also_lost)), return_exceptions=True)

    outcomes = asyncio.run(go())

    assert outcomes[0] is None
    assert isinstance(outcomes[1], OSError)
    assert isinstance(outcomes[2], OSError)  # the rows' failure, not the fallback's
    assert ran == ["lost: " + type(outcomes[1]).__name__]


@pytest.mark.parametrize("size", [16 * 1024, 300 * 1024])
def test_concurrent_generations_are_each_stored_and_logged_when_they_return(services, fake, size) -> None:
    url, script = fake
    # One image per prompt, so that every generation stores an image of its own; the large ones are hashed in a
    # thread while their structure is checked. The small ones are 73 px a side: under 64 a provider's image is refused.
    script.pick = lambda body: noise(size, seed=int(body["prompt"].split()[-1]))
    count = 12

    async def go() -> list[Generation]:
        async with generation_service(services, url) as service:

            async def one(number: int) -> Generation:
                request = request_for(service)
                request = type(request)(
                    model=request.model,
                    spec=type(request.spec)(prompt=f"image {number}", width=1024, height=1024),
                    request_id=request.request_id,
                )
                generation = await service.generate(request)
                # Checked the moment it returns, while the others are still being written.
                [image_id] = generation.image_ids
                assert image_id is not None
                with Session(services.engine) as session:
                    assert session.get(StoredImage, image_id) is not None
                assert [c.image_id for c in calls_of(services, generation.request_id)] == [image_id]
                return generation

            return list(await asyncio.gather(*(one(n) for n in range(count))))

    generations = asyncio.run(go())

    ids = [g.image_ids[0] for g in generations]
    assert len(set(ids)) == count
    for generation, image_id in zip(generations, ids, strict=True):
        result = generation.results[0]
        assert result.image is not None and image_id == hashlib.sha256(result.image.data).hexdigest()
        assert image_id is not None and services.images.read(image_id) == result.image.data


def test_a_record_from_another_event_loop_is_written_on_its_own(services) -> None:
    writer = GroupWriter(lambda: services.engine, services.images)
    first, _ = record_of(services, png_bytes(33, 30))
    second, second_id = record_of(services, png_bytes(34, 30))
    other = asyncio.new_event_loop()
    try:
        other.run_until_complete(writer.record(first))  # the writer now belongs to that loop, still open
        asyncio.run(writer.record(second))
    finally:
        other.close()
    assert len(calls_of(services, second_id)) == 1


def test_a_submitted_record_is_committed_while_the_loop_is_busy_with_something_else(services) -> None:
    # The gateway's early answer submits its generation's rows and then sends a whole image from the loop's thread.
    # The commit's thread must already be under way then: when it waited for the loop's next turn, it began only
    # after the image had gone out, and the answer's last bytes waited for all of it.
    record, request_id = record_of(services, noise(300 * 1024, seed=7))

    def logged() -> bool:
        with Session(services.engine) as session:
            return session.exec(select(ProviderCall).where(ProviderCall.request_id == request_id)).first() is not None

    async def go() -> bool:
        writer = GroupWriter(lambda: services.engine, services.images)
        written = writer.submit(record)
        # The loop's thread stays busy (no await) until the rows are there, or for long enough to say they never
        # came while it was.
        waited = 0
        while not logged() and waited < 1000:
            threading.Event().wait(0.02)
            waited += 1
        committed_while_busy = logged()
        await written
        return committed_while_busy

    assert asyncio.run(go()), "the record's commit waited for the loop's next turn"
