"""A large image's bytes start being written to the blob folder while the router hashes them: the file is written
once, in the store's own folder, and renamed under its hash by the transaction that records it. Nothing
written ahead outlives its request: a refused image, an image the store holds already and a crash's leftovers
(swept) leave no file behind. Against a fake OpenAI-style provider on 127.0.0.1 and real SQLite and blob folders."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinel.generation.service import Generation
from sentinel.providers.base import Outcome
from sentinel.services import Services
from sentinel.store.blobs import INCOMING_PREFIX, FilesystemBlobStore, StagedBlob
from tests.generation.test_generation_service import calls_of, fake, generation_service, request_for, services
from tests.generation.test_group_writer import noise

__all__ = ["fake", "services"]  # fixtures, imported for pytest

#: Large enough to be written ahead and hashed aside (the router's HASH_ASIDE_BYTES is 256 KiB).
LARGE = 600 * 1024


def counting_writes(services: Services) -> list[Path]:
    """Swap in a blob store that notes the folder of every file it writes; the list it fills."""
    folders: list[Path] = []

    class CountingWrites(FilesystemBlobStore):
        @staticmethod
        def _write_aside(folder: Path, data: bytes, sync: bool = True) -> Path:
            folders.append(folder)
            return FilesystemBlobStore._write_aside(folder, data, sync)

    services.images.blobs = CountingWrites(services.images.blobs.root, services.images.blobs.sync)
    return folders


def recording_writes_ahead(services: Services) -> list[StagedBlob]:
    """Swap in a blob store that keeps every blob it starts writing ahead; the list it fills (to wait for their
    writes: a blob discarded while being written is removed by its writer, once it is written)."""
    started: list[StagedBlob] = []

    class RecordingWritesAhead(FilesystemBlobStore):
        def write_ahead(self, data: bytes) -> StagedBlob:
            started.append(super().write_ahead(data))
            return started[-1]

    services.images.blobs = RecordingWritesAhead(services.images.blobs.root, services.images.blobs.sync)
    return started


def leftovers(services: Services) -> list[Path]:
    return list(services.images.blobs.root.glob(f"**/{INCOMING_PREFIX}*"))


def generate(services: Services, url: str, times: int = 1) -> list[Generation]:
    async def go() -> list[Generation]:
        async with generation_service(services, url) as service:
            return [await service.generate(request_for(service)) for _ in range(times)]

    return asyncio.run(go())


def test_a_large_image_is_written_once_in_the_store_folder_and_renamed_under_its_hash(services, fake) -> None:
    url, script = fake
    data = noise(LARGE, seed=1)
    script.images.append(data)
    folders = counting_writes(services)

    (generation,) = generate(services, url)

    sha256 = hashlib.sha256(data).hexdigest()
    assert generation.image_ids == [sha256]
    assert services.images.read(sha256) == data
    assert [call.image_id for call in calls_of(services, generation.request_id)] == [sha256]
    # Written before its hash was known (so not in its own folder), and not written again once it was.
    assert folders == [services.images.blobs.root]
    assert leftovers(services) == []


def test_an_image_the_store_holds_already_leaves_nothing_written_ahead(services, fake) -> None:
    url, script = fake
    data = noise(LARGE, seed=2)
    script.images.extend([data, data])
    started = recording_writes_ahead(services)

    first, second = generate(services, url, times=2)

    sha256 = hashlib.sha256(data).hexdigest()
    assert first.image_ids == second.image_ids == [sha256]
    assert services.images.read(sha256) == data
    # The second copy is discarded while its writer may still be writing it: the writer removes it once written.
    assert all(blob.written.wait(30) for blob in started)
    assert leftovers(services) == []


def test_a_refused_image_leaves_nothing_written_ahead(services, fake) -> None:
    url, script = fake
    truncated = noise(LARGE, seed=3)[: LARGE // 2]
    script.images.append(truncated)
    started = recording_writes_ahead(services)

    async def go() -> Generation:
        async with generation_service(services, url) as service:
            return await service.generate(request_for(service))

    generation = asyncio.run(go())

    assert generation.image_ids == [None]
    failure = generation.results[0].last_failure
    assert failure is not None and failure.outcome is Outcome.UNAVAILABLE
    # The bytes sniff as a PNG, so their write may have started before the check refused them.
    assert all(blob.written.wait(30) for blob in started)
    assert leftovers(services) == []


@pytest.mark.parametrize("synced", [True, False])
def test_a_blob_written_ahead_is_renamed_by_the_put_once_claimed(tmp_path, synced) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs", sync=synced)
    store.check()
    data = os.urandom(300 * 1024)
    sha256 = hashlib.sha256(data).hexdigest()

    staged = store.write_ahead(data)
    assert staged.written.wait(30)
    assert staged.temporary is not None and staged.temporary.parent == store.root
    written = staged.temporary.stat().st_ino
    assert store.claim(staged, sha256) is staged
    store.put(sha256, data, "application/octet-stream")
    store.discard(staged)

    assert store.get(sha256) == data
    assert store.path(sha256).stat().st_ino == written  # renamed, not written again
    assert list(store.root.glob(f"**/{INCOMING_PREFIX}*")) == []
    # Claimed once more, for bytes the store now holds: nothing to rename, and the second write is removed.
    again = store.write_ahead(data)
    assert again.written.wait(30)
    assert store.claim(again, sha256) is None
    assert list(store.root.glob(f"**/{INCOMING_PREFIX}*")) == []


def test_the_sweep_removes_what_a_crash_left_written_ahead(tmp_path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs", sync=False)
    store.check()
    left = store.root / f"{INCOMING_PREFIX}crashed"
    left.write_bytes(b"half an image")
    an_hour_ago = time.time() - 3600
    os.utime(left, (an_hour_ago, an_hour_ago))

    assert store.sweep_incoming(datetime.now(UTC) - timedelta(minutes=10)) == 1
    assert not left.exists()
