"""The job sweep runs every few seconds for the whole cluster: its read of the open jobs must not grow with the
history of finished ones a deployment keeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.models import Job, JobState, utcnow
from sentinel.services import Services

pytestmark = pytest.mark.integration

#: Finished jobs kept: enough that PostgreSQL plans a read of the whole table as a scan of it.
FINISHED = 5000


def job_row(index: int, state: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": f"job_{index}",
        "task": "text-to-image",
        "prompt": "a red kite",
        "params": {},
        "n": 1,
        "max_attempts": 3,
        "budget_seconds": 300.0,
        "state": state,
        "created_at": now,
        "deadline_at": now + timedelta(hours=1),
    }


def test_the_sweep_finds_the_open_jobs_through_the_state_index(pg_services: Services) -> None:
    services = pg_services
    engine = services.engine
    with engine.begin() as connection:
        connection.execute(insert(Job), [job_row(i, JobState.DONE) for i in range(FINISHED)])
        connection.execute(insert(Job), [job_row(FINISHED, JobState.GENERATING)])
        connection.execute(text("ANALYZE jobs"))
    reads: list[tuple[str, Any]] = []

    def note(_conn, _cursor, statement, parameters, *_args) -> None:  # type: ignore[no-untyped-def]
        if " ".join(statement.split()).upper().startswith("SELECT JOBS.ID FROM JOBS"):
            reads.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        JobRecovery(services, JobProgress(services)).sweep()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    # The open jobs, and the cancelled jobs made lately (whose attempts a cancel may have left under way).
    assert len(reads) == 2
    plans = []
    with engine.connect() as connection:
        for statement, parameters in reads:
            plans.append("\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)))
    assert "ix_jobs_state" in plans[0], plans[0]
    assert "Seq Scan" not in plans[1], plans[1]
