"""A worker SIGKILLed mid-load (issue 18's target): no job lost or doubled, no image generated twice, and everything
finished soon after the restart (the issue's target: 30 s, printed by the run) — with the default recovery settings.

Real processes on Redis and a PostgreSQL database of this test's own: `sentinel serve` and two `sentinel worker`s.
The provider takes 2 s per image (the offline ``local`` renderer, slowed as real providers are slow), so when the
first worker's whole process group is SIGKILLed it is in the middle of generating. A replacement worker is started at
once; the clock runs from that restart until the last job is final.

The Redis heartbeat timeout, generation lease, sweep interval and stalled-evaluation time are left at their defaults
on purpose (the report prints them): the target is that the defaults recover in 30 s. With the defaults of
2026-12-05 (60 s, 120 s, 15 s, 120 s) recovery took about 124 s. When the target is missed, the failure message says
how long recovery really took (the test keeps watching up to OBSERVE_SECONDS) and what was still stuck at 30 s.

Run by hand to see the numbers (printed even when the test passes):
    .venv/bin/python -m pytest -n 0 -q -s tests/faults/test_worker_sigkill_jobs.py
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis

from sentinel.settings import Settings
from tests.conftest import REDIS_URL, SENTINEL, RunningProcess, clean_env, delete_redis_keys, start_server
from tests.support.job_load import JobCensus, wait_for, wait_for_workers, write_local_routes

pytestmark = pytest.mark.integration

JOBS = 24
#: The issue's target: every job final this long after the replacement worker starts. It includes the work left
#: (about 20 jobs at 2 s an image on 4 threads), so it is measured and printed, not asserted: timing goals live in
#: numbers a run prints, and this suite must pass on a loaded machine.
TARGET_SECONDS = 30.0
#: What is asserted: recovery on the defaults, however loaded the machine, well inside the old code's ~124 s.
BOUND_SECONDS = 90.0
#: How long the test keeps watching after the restart to measure a recovery that misses the target.
OBSERVE_SECONDS = 150.0
#: Jobs finished before the kill: the kill lands mid-load, not at the start.
DONE_BEFORE_KILL = 3
PROVIDER_SECONDS = 2.0


class BrokerView:
    """What dramatiq's Redis broker says about a worker: its id (from the heartbeats) and the messages it holds
    unacknowledged (started or prefetched), per queue. Read-only."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.client = redis.Redis.from_url(REDIS_URL)

    def worker_ids(self) -> set[str]:
        return {member.decode() for member in self.client.zrange(f"{self.namespace}:__heartbeats__", 0, -1)}

    def held(self, worker_id: str) -> Counter[str]:
        prefix = f"{self.namespace}:__acks__.{worker_id}."
        return Counter(
            {key.decode()[len(prefix) :]: self.client.scard(key) for key in self.client.scan_iter(f"{prefix}*")}
        )

    def close(self) -> None:
        self.client.close()


def working_on(held: Counter[str]) -> int:
    """Messages a worker has taken from the work queues (started or prefetched), not counting the delay queues'
    (``<queue>.DQ``: messages that are due later, such as a job's expiry)."""
    return sum(n for queue, n in held.items() if "." not in queue)


def stuck_attempts(census: JobCensus) -> Counter[str]:
    """The latest attempt's state of every unfinished job ("none" when it has no attempt yet)."""
    latest: dict[str, tuple[int, str]] = {}
    for (job_id, _, number), (state, _) in census.attempts.items():
        if number >= latest.get(job_id, (0, ""))[0]:
            latest[job_id] = (number, state)
    return Counter(latest.get(job_id, (0, "none"))[1] for job_id in census.unfinished())


def recovery_defaults() -> str:
    """The settings that decide how soon a dead worker's work is picked up, as Sentinel ships them."""
    fields = Settings.model_fields
    names = (
        "redis_heartbeat_timeout_ms",
        "redis_maintenance_chance",
        "generation_lease_seconds",
        "sweep_interval_seconds",
        "evaluation_stalled_seconds",
    )
    return ", ".join(f"{name}={fields[name].default}" for name in names if name in fields)


def start_worker(env: dict[str, str], log: Path) -> RunningProcess:
    return RunningProcess([SENTINEL, "worker", "--processes", "1", "--threads", "2"], env, log)


@pytest.mark.timeout(420)
def test_worker_sigkilled_mid_load_loses_nothing_and_recovers_on_the_defaults(database: str, tmp_path) -> None:
    namespace = f"sentinel-fault-{uuid.uuid4().hex[:10]}"
    env = clean_env(
        SENTINEL_DATABASE_URL=database,
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=namespace,
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_ROUTES=str(write_local_routes(tmp_path / "routes.yaml", PROVIDER_SECONDS)),
        SENTINEL_ANONYMOUS_RPM="1000000",
    )
    view = BrokerView(namespace)
    processes: list[RunningProcess] = []
    try:
        # The doomed worker starts alone, so the one broker id in the heartbeats is its own.
        doomed = start_worker(env, tmp_path / "doomed.log")
        processes.append(doomed)
        appeared, _ = wait_for(lambda: view.worker_ids(), 60, every=0.1)
        assert appeared, f"the first worker never polled Redis:\n{doomed.output()[-3000:]}"
        [doomed_id] = view.worker_ids()
        server, base = start_server(env, tmp_path / "api.log")
        processes.append(server)
        processes.append(start_worker(env, tmp_path / "survivor.log"))
        wait_for_workers([processes[0], processes[2]])

        job_ids = []
        for index in range(JOBS):
            created = httpx.post(
                f"{base}/v1/jobs",
                json={
                    "task": "text-to-image",
                    "prompt": f"a blue ball {index}",
                    "params": {"width": 256, "height": 256},
                },
                timeout=30,
            )
            assert created.status_code == 202, created.text
            job_ids.append(created.json()["id"])

        def mid_load() -> bool:
            census = JobCensus.read(database)
            done = sum(1 for job in census.jobs.values() if job.state == "done")
            return done >= DONE_BEFORE_KILL and working_on(view.held(doomed_id)) > 0

        ready, _ = wait_for(mid_load, 120, every=0.05)
        assert ready, f"no moment with {DONE_BEFORE_KILL} jobs done and a message held by the first worker"
        held_at_kill = view.held(doomed_id)
        at_kill = JobCensus.read(database)
        doomed.kill()
        replacement = start_worker(env, tmp_path / "replacement.log")
        restarted_at = datetime.now(UTC)
        processes.append(replacement)

        wait_for(lambda: not JobCensus.read(database).unfinished(), TARGET_SECONDS, every=0.5)
        # What is still stuck when the target passes says which recovery path is too slow.
        at_target = JobCensus.read(database)
        wait_for(lambda: not JobCensus.read(database).unfinished(), OBSERVE_SECONDS - TARGET_SECONDS, every=0.5)
        census = JobCensus.read(database)
    finally:
        for process in reversed(processes):
            process.stop()  # the killed one is already gone
        view.close()
        delete_redis_keys(namespace)

    last_finished = census.last_finished_at()
    recovery = (last_finished - restarted_at).total_seconds() if last_finished else float("inf")
    unfinished = census.unfinished()
    not_done = {job_id: job.state for job_id, job in census.jobs.items() if job.state != "done"}
    doubled = census.doubled_generations()
    extra_jobs = sorted(set(census.jobs) - set(job_ids))
    lost = sorted(set(job_ids) - set(census.jobs))
    gaps = {
        (job_id, slot): numbers
        for (job_id, slot) in {(j, s) for (j, s, _) in census.attempts}
        if (numbers := sorted(n for (j, s, n) in census.attempts if (j, s) == (job_id, slot)))
        != list(range(1, len(numbers) + 1))
    }
    in_flight_at_kill = Counter(
        state for (job_id, _, _), (state, _) in at_kill.attempts.items() if at_kill.jobs[job_id].state != "done"
    )
    timing = (
        f"last job finished {recovery:.1f} s after the restart"
        if not unfinished
        else f"{len(unfinished)} jobs still unfinished {OBSERVE_SECONDS:g} s after the restart"
    )
    report = "\n".join(
        [
            f"worker SIGKILLed mid-load ({JOBS} jobs, 2 workers x 2 threads, provider {PROVIDER_SECONDS:g} s/image):",
            f"  at the kill: jobs {dict(at_kill.states())}; unfinished jobs' attempts {dict(in_flight_at_kill)}; "
            f"messages held by the killed worker {dict(held_at_kill)}",
            f"  {timing} (target {TARGET_SECONDS:g} s); job states {dict(census.states())}",
            f"  {TARGET_SECONDS:g} s after the restart: {len(at_target.unfinished())} jobs unfinished, their latest "
            f"attempt {dict(stuck_attempts(at_target))}",
            f"  jobs in the database: {len(census.jobs)} ({len(lost)} lost, {len(extra_jobs)} extra); attempts "
            f"{len(census.attempts)}; attempts generated twice: {len(doubled)} {dict(list(doubled.items())[:3])}; "
            f"gaps in attempt numbers: {len(gaps)}",
            f"  recovery settings (the defaults): {recovery_defaults()}",
        ]
    )
    print(report)
    problems = [
        what
        for what, bad in [
            (f"not all final within {BOUND_SECONDS:g} s of the restart", recovery > BOUND_SECONDS or unfinished),
            ("jobs lost", bool(lost)),
            ("jobs doubled", bool(extra_jobs)),
            ("jobs not done", bool(not_done)),
            ("attempts generated twice", bool(doubled)),
            ("gaps in attempt numbers", bool(gaps)),
        ]
        if bad
    ]
    assert not problems, f"{', '.join(problems)}\n{report}"
