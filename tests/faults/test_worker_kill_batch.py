"""A worker SIGKILLed (with its children) in the middle of a batch of 50 evaluations: the messages it held are
redelivered to a replacement, and every evaluation finishes with exactly one vote per judge.

(tests/jobs/test_worker_kill.py does the same to jobs; this is the evaluations' batch, with no sweep to help:
only the broker's redelivery of unacknowledged messages.)"""

from __future__ import annotations

import pytest

from tests.conftest import clean_env, start_server
from tests.faults.conftest import Stack, submit, wait_until

pytestmark = pytest.mark.integration

BATCH = 50


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(own_redis, database, tmp_path) -> None:
    stack = Stack(tmp_path, database, own_redis.url)
    server, base = start_server(clean_env(**stack.env), tmp_path / "api.log")
    try:
        answers = [submit(base, index) for index in range(BATCH)]
        assert [a.status_code for a in answers] == [202] * BATCH
        ids = [a.json()["id"] for a in answers]
        doomed = stack.start_worker(threads=4)
        wait_until(lambda: stack.counts(ids)[0] >= 3, 60, "3 verdicts before the kill")
        doomed.kill()
        done_at_kill = stack.counts(ids)[0]
        assert done_at_kill < BATCH
        stack.start_worker(threads=4)
        wait_until(lambda: stack.counts(ids)[0] == BATCH, 90, f"all {BATCH} verdicts after the kill", every=0.5)
    finally:
        for worker in stack.workers:
            worker.stop()  # the killed one is already gone
        server.stop()
    stack.assert_one_vote_per_judge(ids)
