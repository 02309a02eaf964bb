"""Claiming an Idempotency-Key in the database (a unique constraint decides races) and replaying answers."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.db import dialect_insert, insert_unless_present
from sentinel.errors import InvalidInput, SentinelError
from sentinel.idempotency.kept import KeptAnswer, kept_answers
from sentinel.models import IdempotencyRecord, utcnow
from sentinel.services import Services

#: Longest accepted key; clients usually send a UUID.
MAX_KEY_LENGTH = 255
#: How long a duplicate waits for the first request's answer before it is told to retry.
WAIT_FOR_FIRST_SECONDS = 10.0
#: What a duplicate told to retry (the first request still running) is asked to wait, in seconds.
RETRY_AFTER_SECONDS = 1


class KeyReused(SentinelError):
    status_code = 422
    error_type = "idempotency_key_reused"


class StillRunning(SentinelError):
    status_code = 409
    error_type = "idempotency_key_in_use"


class AnsweredMeanwhile(Exception):
    """Another request with the same key stored its answer first: this one's work is rolled back and that answer
    is replayed."""


@dataclass(frozen=True)
class RecordedAnswer:
    """A claimed key whose answer is stored by the transaction that does the work, so the work and the answer
    exist together or not at all (a crash in between leaves neither, and a retry may claim the key again)."""

    record_id: int

    def store(self, session: Session, answer: tuple[int, dict[str, Any], dict[str, str]]) -> None:
        status_code, response, headers = answer
        stored = session.execute(
            update(IdempotencyRecord)
            .where(col(IdempotencyRecord.id) == self.record_id, col(IdempotencyRecord.status_code).is_(None))
            .values(status_code=status_code, response=response, headers=headers)
        ).rowcount  # type: ignore[attr-defined]
        if stored != 1:
            raise AnsweredMeanwhile(self.record_id)


@dataclass(frozen=True)
class JobOfClaim:
    """A claimed key whose request answers with a job's result: the job's id is written on the claim in the job's
    own transaction, so the claim never names a job that does not exist, nor a job its claim does not name."""

    record_id: int

    def note(self, session: Session, job_id: str) -> None:
        session.execute(
            update(IdempotencyRecord).where(col(IdempotencyRecord.id) == self.record_id).values(job_id=job_id)
        )


@dataclass(frozen=True)
class Claim:
    """A fresh key (``record_id`` to complete) or the stored answer to replay. ``job_id``: on a claim taken over
    from a request that died, the job that request had started (see :class:`JobOfClaim`)."""

    record_id: int | None
    status_code: int | None = None
    response: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None
    job_id: str | None = None


def fingerprint(*parts: Any) -> str:
    """A stable digest of the request's meaning (not its bytes: multipart boundaries differ per retry)."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


class IdempotencyService:
    def __init__(self, services: Services) -> None:
        self.services = services
        #: Answers the database could not keep for their keys, kept on this server's disk until a retry comes.
        self.kept = kept_answers(services.settings.data_dir)

    def claim(
        self, scope: str, endpoint: str, key: str, digest: str, *, stale_after_seconds: float | None = None
    ) -> Claim:
        r"""Claim ``key`` for this request, or find the answer to replay. With ``stale_after_seconds`` a claim that
        old without an answer belonged to a request that died (its work stores its answer in the same transaction,
        or it renews its claim while it works), and is taken over."""
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidInput(
                f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters", field="Idempotency-Key"
            )
        deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
        while True:
            with Session(self.services.engine) as session:
                inserted = insert_unless_present(
                    session,
                    IdempotencyRecord,
                    {"scope": scope, "endpoint": endpoint, "key": key, "fingerprint": digest},
                    ["scope", "endpoint", "key"],
                )
                session.commit()
            record = self._load(scope, endpoint, key)
            if record is None:
                # The first request failed and released the key: this duplicate claims it and does the work
                # itself, so it gets that request's answer (the same 4xx, or a success if the failure passed).
                self._check_deadline(deadline, key)
                continue
            if inserted:
                return Claim(record.id)
            if record.fingerprint != digest:
                raise KeyReused(
                    f"Idempotency-Key '{key}' was already used with a different request; use a new key",
                    field="Idempotency-Key",
                )
            if record.status_code is not None:
                return Claim(None, record.status_code, record.response, record.headers)
            if stale_after_seconds is not None and self._take_over(record, stale_after_seconds):
                return Claim(record.id, job_id=record.job_id)
            self._check_deadline(deadline, key)
            time.sleep(0.05)

    @staticmethod
    def _check_deadline(deadline: float, key: str) -> None:
        if time.monotonic() >= deadline:
            raise StillRunning(
                f"a request with Idempotency-Key '{key}' is still being processed; retry shortly",
                field="Idempotency-Key",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )

    def _take_over(self, record: IdempotencyRecord, stale_after_seconds: float) -> bool:
        now = utcnow()
        with Session(self.services.engine) as session:
            taken = session.execute(
                update(IdempotencyRecord)
                .where(
                    col(IdempotencyRecord.id) == record.id,
                    col(IdempotencyRecord.status_code).is_(None),
                    col(IdempotencyRecord.created_at) < now - timedelta(seconds=stale_after_seconds),
                )
                .values(created_at=now)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        return taken == 1

    def renew(self, record_id: int) -> None:
        """The request holding this claim is still at work: its claim is not stale (see ``claim``)."""
        with Session(self.services.engine) as session:
            session.execute(
                update(IdempotencyRecord)
                .where(col(IdempotencyRecord.id) == record_id, col(IdempotencyRecord.status_code).is_(None))
                .values(created_at=utcnow())
            )
            session.commit()

    def _load(self, scope: str, endpoint: str, key: str) -> IdempotencyRecord | None:
        with Session(self.services.engine) as session:
            query = select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.endpoint == endpoint, IdempotencyRecord.key == key
            )
            return session.exec(query).first()

    def complete(self, record_id: int, status_code: int, response: dict[str, Any], headers: dict[str, str]) -> None:
        with Session(self.services.engine) as session:
            session.execute(
                update(IdempotencyRecord)
                .where(col(IdempotencyRecord.id) == record_id, col(IdempotencyRecord.status_code).is_(None))
                .values(status_code=status_code, response=response, headers=headers)
            )
            session.commit()

    def record_kept(self, kept: KeptAnswer) -> Claim:
        """Write an answer kept on disk (:mod:`sentinel.idempotency.kept`) as its key's answer, with the rows of the
        images it names that have none, in one transaction; the key's answer to replay (the kept one, unless another
        request answered the key meanwhile). Raises the database's error while it is still away."""
        answer = {"status_code": kept.status_code, "response": kept.response, "headers": kept.headers}
        with self.services.engine.begin() as connection:
            if kept.images:
                self.services.images.store_many(connection, kept.images)
            keyed = {"scope": kept.scope, "endpoint": kept.endpoint, "key": kept.key}
            connection.execute(
                dialect_insert(connection)(IdempotencyRecord)
                .values(**keyed, fingerprint=kept.fingerprint, created_at=utcnow(), **answer)
                .on_conflict_do_nothing(index_elements=list(keyed))
            )
            # The claim of the request that kept it, unanswered: answered now.
            connection.execute(
                update(IdempotencyRecord)
                .where(
                    col(IdempotencyRecord.scope) == kept.scope,
                    col(IdempotencyRecord.endpoint) == kept.endpoint,
                    col(IdempotencyRecord.key) == kept.key,
                    col(IdempotencyRecord.status_code).is_(None),
                )
                .values(**answer)
            )
        self.kept.forget(kept.scope, kept.endpoint, kept.key)
        record = self._load(kept.scope, kept.endpoint, kept.key)
        if record is None or record.status_code is None:
            return Claim(None, kept.status_code, kept.response, kept.headers)
        return Claim(None, record.status_code, record.response, record.headers)

    def release(self, record_id: int) -> None:
        """The first request failed with an error: a retry with the same key may try again. A claim that names the
        job its request started (which goes on without it) is kept and left for a retry to take over at once, so the
        retry waits for that job rather than start a second one that buys its images again."""
        with Session(self.services.engine) as session:
            record = session.get(IdempotencyRecord, record_id)
            if record is None or record.status_code is not None:
                return
            if record.job_id is not None:
                record.created_at = utcnow() - timedelta(days=1)
            else:
                session.delete(record)
            session.commit()
