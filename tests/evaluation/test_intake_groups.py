"""Evaluations accepted together are written together (how few transactions a burst takes is the vision bench's to
measure): every evaluation in a group is still stored with its image, its owner and its judges' message, which the
writing process's relay sends, and one that cannot be written fails only its own request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from sentinel.evaluation.intake import WRITERS
from sentinel.evaluation.service import EvaluationService
from sentinel.models import EvaluationStatus, ImageOwner, OutboxMessage, StoredImage
from sentinel.outbox.relay import Relay
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database, png_bytes

pytestmark = pytest.mark.integration

BURST = 24


class RecordingBroker(StubBroker):
    """Notes the evaluation id of each message it takes."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        with self.lock:
            self.sent.append(message.args[0])
        return message


@pytest.fixture
def service(tmp_path: Path) -> Iterator[EvaluationService]:
    with own_postgres_database() as url:
        built = EvaluationService(build_services(Settings(data_dir=tmp_path / "data", database_url=url)))
        yield built
        built.services.engine.dispose()


def uploads(count: int) -> list[bytes]:
    return [png_bytes(64 + index, 64) for index in range(count)]


async def accept_all(service: EvaluationService, images: list[bytes], key_id: str | None) -> list[object]:
    """Every upload at once, as the endpoint hands them over."""
    calls = (service.accept("text-to-image", {}, {"image": image}, None, key_id) for image in images)
    return await asyncio.gather(*calls, return_exceptions=True)


def wait_for(condition, seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def test_a_burst_of_uploads_written_in_groups_is_every_evaluation_stored_owned_and_sent_once(service) -> None:
    # How many transactions a burst takes depends on how fast its uploads arrive (bench vision measures it); what
    # must hold whatever the grouping is that each evaluation is stored whole, owned, and sent once.
    engine = service.services.engine
    broker = RecordingBroker()
    relay = Relay(engine, broker, poll_seconds=3600)
    relay.start()
    try:
        images = uploads(BURST)
        outcomes = asyncio.run(accept_all(service, images, "key_burst"))
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        ids = [evaluation.id for evaluation in outcomes]  # type: ignore[attr-defined]
        assert wait_for(lambda: sorted(broker.sent) == sorted(ids)), broker.sent
    finally:
        relay.stop()
    for evaluation, image in zip(outcomes, images, strict=True):
        found, votes_in = service.read(evaluation.id)  # type: ignore[attr-defined]
        assert found.status == EvaluationStatus.JUDGING and votes_in == 0
        assert found.key_id == "key_burst"
        # Its image's blob is where its row says, byte for byte.
        assert service.services.images.blobs.get(found.image_id) == image
    with Session(engine) as session:
        stored = {row.id for row in session.exec(select(StoredImage))}
        owners = {(row.image_id, row.key_id) for row in session.exec(select(ImageOwner))}
        # Each message went out once and its row is gone (deleted by the relay that sent it).
        assert wait_for(lambda: not session.exec(select(OutboxMessage)).all())
    hashes = {evaluation.image_id for evaluation in outcomes}  # type: ignore[attr-defined]
    assert len(hashes) == BURST and hashes <= stored
    assert {(sha256, "key_burst") for sha256 in hashes} <= owners
    assert len(broker.sent) == BURST


def test_an_evaluation_that_cannot_be_written_fails_alone_and_the_rest_of_its_group_is_stored(service) -> None:
    first, *news = [
        service.prepare(service.validate("text-to-image", {}, {"image": image}), None) for image in uploads(WRITERS + 3)
    ]
    asyncio.run(service.intake.accept(lambda: first))
    # An upload that would be an evaluation already stored: its row cannot be written.
    clash = replace(news[-2], row=news[-2].row | {"id": first.evaluation.id})
    given = [*news[:-2], clash, news[-1]]

    async def at_once() -> list[object]:
        # The first WRITERS go alone, each in a transaction of its own; the last two arrive meanwhile and are a group.
        return await asyncio.gather(
            *(service.intake.accept(lambda new=new: new) for new in given), return_exceptions=True
        )

    outcomes = asyncio.run(at_once())
    assert isinstance(outcomes[-2], IntegrityError), outcomes
    for new, outcome in zip(given, outcomes, strict=True):
        if new is not clash:
            assert not isinstance(outcome, BaseException), outcome
            assert service.read(new.evaluation.id)[0].status == EvaluationStatus.JUDGING
