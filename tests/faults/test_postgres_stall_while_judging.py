"""PostgreSQL stalls while a worker judges (outside probe F6): the panel message outlives its time limit waiting on
the database, not on its judges. The image is judged again once the database is back, and its verdict is its
judges' votes, not an amber "took longer than its limit" that blames the judges (and sends a person to review an
image nothing was found wrong with).

The worker reaches PostgreSQL through a proxy the test stalls (connections stay open, nothing is answered), with a
database timeout longer than the panel message's limit; the API reaches it directly."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.conftest import REPO, clean_env, start_server
from tests.faults.conftest import Stack, submit, wait_until
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

#: Each offline judge's limit: the panel message is held to it plus its grace (15 s).
JUDGE_LIMIT_SECONDS = 5


def short_limited_judges(folder: Path) -> Path:
    """The shipped offline judges, each limited to JUDGE_LIMIT_SECONDS."""
    folder.mkdir()
    for path in (REPO / "judges").glob("*.yaml"):
        judge = yaml.safe_load(path.read_text())
        judge["timeout_seconds"] = JUDGE_LIMIT_SECONDS
        (folder / path.name).write_text(yaml.safe_dump(judge))
    return folder


@pytest.mark.timeout(300)
def test_a_database_stall_while_judging_is_not_blamed_on_the_judges(own_redis, database, tmp_path: Path) -> None:
    stack = Stack(tmp_path, database, own_redis.url)
    stack.env["SENTINEL_JUDGES_DIR"] = str(short_limited_judges(tmp_path / "judges"))
    # No sweep meanwhile: it would wait on the stall too, holding the worker's threads.
    stack.env["SENTINEL_SWEEP_INTERVAL_SECONDS"] = "3600"
    parts = urlsplit(database)
    server, base = start_server(clean_env(**stack.env), tmp_path / "api.log")
    try:
        with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            # The worker's database: behind the proxy, each round trip allowed longer than the message's limit.
            stack.env["SENTINEL_DATABASE_URL"] = proxy.url("postgresql", parts.username or "", parts.path)
            stack.env["SENTINEL_DATABASE_TIMEOUT_SECONDS"] = "60"
            worker = stack.start_worker(threads=2)
            # A first evaluation judged: the worker is up, its pool's connections open.
            first = submit(base, 0).json()["id"]
            wait_until(lambda: stack.counts([first])[0] == 1, 90, "the first verdict")
            log = tmp_path / "worker0.log"
            proxy.stall()
            try:
                second = submit(base, 1)
                assert second.status_code == 202, second.text
                evaluation_id = second.json()["id"]
                # The message waits on the stalled database past its limit.
                wait_until(lambda: "Time limit exceeded" in log.read_text(errors="replace"), 90, "the time limit")
            finally:
                proxy.restore()
            wait_until(lambda: stack.counts([evaluation_id])[0] == 1, 120, "the verdict after the stall", every=0.5)
            answer = httpx.get(f"{base}/v1/evaluations/{evaluation_id}", timeout=10).json()
            before = httpx.get(f"{base}/v1/evaluations/{first}", timeout=10).json()
            worker.stop()
    finally:
        for running in stack.workers:
            running.stop()
        server.stop()
    assert "took longer than" not in str(answer), answer
    # Every judge voted on the image as on the same kind of image judged before the stall.
    votes = {judge["judge"]: judge["passed"] for judge in answer["judges"]}
    assert votes == {judge["judge"]: judge["passed"] for judge in before["judges"]}, (answer, before)
    assert answer["verdict"] == before["verdict"], (answer, before)
