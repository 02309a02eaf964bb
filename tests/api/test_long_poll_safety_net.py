"""Readers long-polling evaluations that are not finished yet share one safety net: the database is asked once a
period which of the evaluations waited for are done, where each reader used to read its own row again every
period (with 200 readers waiting two seconds for vision judges, 400 reads, a third of the API's CPU per evaluation).
A verdict whose announcement was lost still reaches its reader within about a period."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import delete, event, update
from sqlmodel import Session, col

from sentinel.models import Evaluation, EvaluationStatus, Vote
from sentinel.telemetry.finished import SAFETY_NET_SECONDS
from tests.conftest import png_bytes

READERS = 6
#: How long the readers wait for evaluations nobody is judging before the verdicts are written (unannounced).
UNFINISHED_SECONDS = 3.2


def _finished_evaluations(client, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for index in range(count):
        files = {"image": ("x.png", png_bytes(64, 64, (10 * index, 30, 30)), "image/png")}
        created = client.post("/v1/evaluations", data={"task": "text-to-image"}, files=files)
        assert created.status_code == 202, created.text
        ids.append(created.json()["id"])
    for evaluation_id in ids:
        assert client.get(f"/v1/evaluations/{evaluation_id}?wait=30").json()["status"] == "done"
    return ids


def _set_status(client, ids: list[str], status: EvaluationStatus) -> None:  # type: ignore[no-untyped-def]
    """Written straight to the database, announced to nobody: as a verdict whose announcement was lost. Unfinished
    again, an evaluation has no votes (the sweep would finish one whose votes are all in)."""
    with Session(client.app.state.services.engine) as session:
        session.execute(update(Evaluation).where(col(Evaluation.id).in_(ids)).values(status=status))
        if status != EvaluationStatus.DONE:
            session.execute(delete(Vote).where(col(Vote.evaluation_id).in_(ids)))
        session.commit()


@contextmanager
def evaluation_reads(client) -> Iterator[dict[str, int]]:  # type: ignore[no-untyped-def]
    """How many statements read evaluations one by one (``reads``) and several at once (``batched``), meanwhile."""
    counts = {"reads": 0, "batched": 0}
    lock = threading.Lock()

    def note(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        flat = " ".join(statement.split())
        if not flat.startswith("SELECT") or "FROM evaluations" not in flat:
            return
        with lock:
            if "evaluations.id IN" in flat:
                counts["batched"] += 1
            elif "evaluations.id =" in flat:
                counts["reads"] += 1

    engine = client.app.state.services.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_waiting_readers_share_one_query_per_period_and_an_unannounced_verdict_still_reaches_them(client) -> None:
    ids = _finished_evaluations(client, READERS)
    _set_status(client, ids, EvaluationStatus.JUDGING)
    try:
        with evaluation_reads(client) as counts, ThreadPoolExecutor(READERS) as pool:
            started = time.monotonic()
            waits = [pool.submit(client.get, f"/v1/evaluations/{evaluation_id}?wait=20") for evaluation_id in ids]
            time.sleep(UNFINISHED_SECONDS)
            written = time.monotonic()
            _set_status(client, ids, EvaluationStatus.DONE)
            answers = [wait.result(timeout=30) for wait in waits]
            seen = time.monotonic()
    finally:
        _set_status(client, ids, EvaluationStatus.DONE)
    assert [answer.json()["status"] for answer in answers] == ["done"] * READERS
    assert all(answer.json()["verdict"] for answer in answers)
    # Each reader waited the whole time: nothing was done before the verdicts were written.
    assert written - started >= UNFINISHED_SECONDS
    # The verdicts were announced to nobody, and the readers still had them within about a period.
    assert seen - written < SAFETY_NET_SECONDS + 1.5
    # Each reader read its row when it came and when it was woken: not again every period while it waited (it
    # read it about once a second: 4 or 5 times each here).
    assert counts["reads"] <= 2 * READERS, counts
    # ... and the rows waited for were looked at together, about once a period.
    assert 1 <= counts["batched"] <= UNFINISHED_SECONDS / SAFETY_NET_SECONDS + 2, counts
