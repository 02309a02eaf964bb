"""Redis restarted in the middle of a batch of 50 evaluations, with its data kept (append-only file) and lost:
every evaluation is accepted and finishes with one vote per judge, none lost and none duplicated."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.conftest import clean_env, start_server
from tests.faults.conftest import Stack, submit, sweeper, wait_until

pytestmark = pytest.mark.integration

BATCH = 50


@pytest.mark.parametrize("keeps_data", [True, False], ids=["append-only-file", "comes-back-empty"])
def test_redis_restart_mid_batch_loses_and_duplicates_nothing(own_redis, database, tmp_path, keeps_data) -> None:
    stack = Stack(tmp_path, database, own_redis.url)
    server, base = start_server(clean_env(**stack.env), tmp_path / "api.log")
    stack.start_worker()
    sweep, close_sweeper = sweeper(database, own_redis.url, stack.namespace, tmp_path / "sweeper")
    answers: list[httpx.Response] = []

    def submit_all() -> None:
        for index in range(BATCH):
            answers.append(submit(base, index))
            time.sleep(0.02)  # a steady stream, so some arrive while Redis is away

    submitter = threading.Thread(target=submit_all)
    try:
        submitter.start()
        # Mid-batch: some evaluations judged, some not yet submitted.
        wait_until(lambda: len(answers) >= 15, 60, "15 evaluations submitted")
        ids = [a.json()["id"] for a in answers if a.status_code == 202]
        wait_until(lambda: stack.counts(ids)[0] >= 3, 60, "3 verdicts before the restart")
        own_redis.stop()
        if not keeps_data:
            own_redis.wipe()
        time.sleep(0.5)  # Redis is away for a while: submissions and the worker meet a refused connection
        own_redis.start(persist=keeps_data)
        submitter.join(timeout=120)
        assert not submitter.is_alive()
        assert [a.status_code for a in answers] == [202] * BATCH, [a.text for a in answers if a.status_code != 202]
        ids = [a.json()["id"] for a in answers]

        def all_done() -> bool:
            # What every API process's sweeper does each interval (here too, in case this server's is not wired).
            sweep.sweep(stalled_after_seconds=3)
            return stack.counts(ids)[0] == BATCH

        wait_until(all_done, 90, f"all {BATCH} verdicts after the restart", every=1.0)
    finally:
        if submitter.is_alive():
            submitter.join(timeout=60)
        close_sweeper()
        for worker in stack.workers:
            worker.stop()
        server.stop()
    stack.assert_one_vote_per_judge(ids)
