"""`sentinel bench load`'s split of the workers' CPU: the judges' threads and the workers' own (queue, database)
work are measured in the worker processes, not one estimated by subtracting a figure measured elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sentinel.bench.harness import Deployment
from sentinel.bench.load import CpuMeter, stage_costs

#: A stand-in worker: an idle long-lived thread (its queue) and, when told, a judge on a thread that ends.
WORKER = textwrap.dedent(
    """
    import sys, threading, time

    def judge():
        until = time.thread_time() + 0.3
        while time.thread_time() < until:
            pass

    print("ready", flush=True)
    sys.stdin.readline()
    thread = threading.Thread(target=judge)
    thread.start()
    thread.join()
    print("voted", thread.native_id, flush=True)
    sys.stdin.readline()
    """
)


def test_the_judges_threads_and_the_workers_own_threads_are_measured_apart() -> None:
    worker = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "ready"
        meter = CpuMeter(Deployment("http://unused", api_pid=worker.pid, worker_pid=worker.pid))
        meter.start()
        worker.stdin.write("go\n")
        worker.stdin.flush()
        said, judge_thread = worker.stdout.readline().split()
        assert said == "voted"
        # A joined thread is still listed (with its CPU) until the kernel has released it, a moment later on a
        # loaded machine: the meter would take it for one of the worker's own. Read once it is gone, as a judge
        # thread that ended is by the time a run's load stops.
        gone = Path(f"/proc/{worker.pid}/task/{judge_thread}")
        deadline = time.monotonic() + 30
        while gone.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not gone.exists(), "the judge thread was never released"
        meter.stop()
    finally:
        worker.kill()
        worker.wait()
    # The judge's 0.3 s is the judges'; the worker's main thread only waited for it.
    assert meter.spent["workers_judges"] >= 0.25
    assert meter.spent["workers_queue_and_database"] < meter.spent["workers_judges"] / 3

    costs = stage_costs(meter.spent | {"redis": 0.0, "postgres": 0.0}, judges=999.0, finished=1, in_process=False)
    stages = costs["cpu_ms_per_evaluation"]
    # Both from the workers, neither from the panel's CPU measured alone (the 999 ms given here).
    assert stages["judges"] == round(meter.spent["workers_judges"] * 1000, 1)
    assert stages["workers' queue and database work"] == round(meter.spent["workers_queue_and_database"] * 1000, 1)


#: A stand-in worker whose judge runs on a thread kept alive between votes, named as the judges' threads are.
WORKER_WITH_JUDGE_THREADS = textwrap.dedent(
    """
    import queue, sys, threading, time
    from sentinel.evaluation.runner import JUDGE_THREAD_NAME, name_os_thread

    asked, voted = queue.Queue(), queue.Queue()

    def judge_thread():
        name_os_thread(JUDGE_THREAD_NAME)
        while asked.get():
            until = time.thread_time() + 0.3
            while time.thread_time() < until:
                pass
            voted.put(True)

    threading.Thread(target=judge_thread, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.readline()
    asked.put(True)
    voted.get()
    print("voted", flush=True)
    sys.stdin.readline()
    """
)


def test_a_judge_thread_kept_between_votes_is_the_judges_not_the_workers() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER_WITH_JUDGE_THREADS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "ready"
        meter = CpuMeter(Deployment("http://unused", api_pid=worker.pid, worker_pid=worker.pid))
        meter.start()
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "voted"
        meter.stop()  # the judge thread is still alive: its name, not its end, makes it the judges'
    finally:
        worker.kill()
        worker.wait()
    assert meter.spent["workers_judges"] >= 0.25
    assert meter.spent["workers_queue_and_database"] < meter.spent["workers_judges"] / 3


def test_the_embedded_default_is_not_charged_for_the_machines_redis() -> None:
    # The embedded default uses no Redis; the machine's Redis, serving other work, was counted as its broker's CPU.
    meter = CpuMeter(Deployment("http://unused", api_pid=os.getpid(), worker_pid=None), redis=False)
    meter.start()
    meter.stop()
    assert "redis" not in meter.spent
    stages = stage_costs(meter.spent, judges=10.0, finished=1, in_process=True)["cpu_ms_per_evaluation"]
    assert "redis" not in stages and "api" in stages
    # A deployment on Redis still reports it.
    with_redis = CpuMeter(Deployment("http://unused", api_pid=os.getpid(), worker_pid=None))
    with_redis.start()
    with_redis.stop()
    assert "redis" in stage_costs(with_redis.spent, judges=10.0, finished=1, in_process=True)["cpu_ms_per_evaluation"]
