"""``sentinel bench gateway`` gives ``sentinel serve`` time to start on a busy machine.

Its imports took over 30 s on the 2-core machine while other work ran, and the 4 MiB cells (measured last, each
size with a fresh server) then failed with "did not come up". The wait is a parameter of the harness now.
"""

from __future__ import annotations

import sys

import pytest

from sentinel.bench import gateway
from sentinel.bench.harness import free_port, started_process

NEVER_READY = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_process_gets_the_time_it_is_given_to_come_up() -> None:
    with (
        pytest.raises(RuntimeError, match="did not come up"),
        started_process(NEVER_READY, {}, f"http://127.0.0.1:{free_port()}/healthz", ready_timeout=1.0),
    ):
        pass


def test_the_gateway_bench_waits_longer_for_sentinel_than_the_harness_default() -> None:
    assert gateway.SERVE_READY_SECONDS >= 120
