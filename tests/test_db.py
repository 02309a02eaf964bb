"""The insert-unless-present primitive that decides every race (votes, attempts, keys, decisions)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, SQLModel

from sentinel.db import build_engine, insert_unless_present
from sentinel.models import IdempotencyRecord


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    engine = build_engine(url)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_first_insert_wins_and_the_second_is_told(engine) -> None:
    values = {"scope": "s", "endpoint": "e", "key": f"k-{engine.dialect.name}", "fingerprint": "f"}
    with Session(engine) as session:
        assert insert_unless_present(session, IdempotencyRecord, values, ["scope", "endpoint", "key"]) is True
        session.commit()
    with Session(engine) as session:
        assert insert_unless_present(session, IdempotencyRecord, values, ["scope", "endpoint", "key"]) is False
        stored = session.get(IdempotencyRecord, 1) or next(iter(session.query(IdempotencyRecord)))
        assert stored.created_at is not None  # Core inserts get the timestamp default too
