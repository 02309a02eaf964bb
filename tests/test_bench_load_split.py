"""`sentinel bench load`'s split of the workers' CPU: the judges' threads and the workers' own (queue, database)
work are measured in the worker processes, not one estimated by subtracting a figure measured elsewhere."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
    print("voted", flush=True)
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
        assert worker.stdout.readline().strip() == "voted"
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
