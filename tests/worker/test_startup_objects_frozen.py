"""A worker process moves what start-up made out of the cyclic garbage collector's reach, so its full collections
(each a pause of every call waiting on the worker's event loop) walk only what the work made since."""

from __future__ import annotations

import subprocess
import sys

#: In a fresh interpreter: freezing is for the whole process, and a test process's objects are not a worker's.
PROBE = """
import gc
from sentinel.workflow import actors

# What dramatiq does when a worker starts (the other middlewares' hooks would start the relay on a database).
before = gc.get_freeze_count()
for middleware in actors.broker.middleware:
    if isinstance(middleware, actors.FreezeStartupObjects):
        middleware.after_worker_boot(actors.broker, None)
print(before, gc.get_freeze_count())
"""


def test_a_worker_freezes_what_start_up_made() -> None:
    shown = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    before, after = map(int, shown)
    assert before == 0
    # The modules a worker imports (dramatiq, SQLAlchemy, the service) are well over 50,000 objects.
    assert after > 50_000
