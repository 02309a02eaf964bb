"""The broker goes away for 6 s while 50 jobs are being submitted, then comes back (issue 18's target): no
``POST /v1/jobs`` answers 5xx, no job is lost or made twice, no image is generated twice, and every job's webhook
arrives — on RabbitMQ and on Redis.

Real processes: `sentinel serve` and two `sentinel worker`s on a PostgreSQL database of this test's own. They reach
the broker through a TCP proxy (tests/support/tcp_proxy.py) that the test cuts: every open connection is reset and
new ones are refused, as when the broker's process is down, while other tests keep using the machine's servers.
On Redis, Redis is the broker and also holds rate limits and wake-ups, so all of it blinks. On RabbitMQ the broker
blinks alone: Redis (rate limits, wake-ups) stays reachable, as in a deployment where only RabbitMQ restarts.

Jobs are text-to-image at 256x256 from the offline ``local`` renderer, slowed to 0.5 s an image (a provider's pace,
and enough that the cut finds generations and judgements in flight: the test cuts once 15 jobs are accepted and at
least one is being worked on).

The client is a careful one: four threads, each job with its own Idempotency-Key, retried with the same key after a
connection error, a timeout, a 409 or a 5xx (with backoff). Every 5xx answer is counted, retries included.

Webhooks: the receiver answers 204 to everything, so Sentinel never has a reason to deliver the same event twice. A
retry after a failed delivery is fine (at-least-once), but the receiver never fails here, so a second
``job.finished`` for one job is a duplicate of an event already acknowledged: flagged.

Run by hand to see the numbers (printed even when the test passes):
    .venv/bin/python -m pytest -n 0 -q -s tests/faults/test_broker_outage.py
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import redis

from tests.conftest import REDIS_URL, SENTINEL, RunningProcess, clean_env, delete_redis_keys, start_server
from tests.support.job_load import JobCensus, JobLoad, wait_for, wait_for_workers, write_local_routes
from tests.support.rabbitmq import rabbitmq_address, rabbitmq_vhost
from tests.support.tcp_proxy import TcpProxy
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

BATCH = 50
#: The broker is cut once this many jobs have been accepted: mid-stream.
CUT_AFTER = 15
OUTAGE_SECONDS = 6.0
WORKERS = 2
#: The offline renderer slowed to a provider's pace, so the cut finds generations and judgements in flight.
SECONDS_PER_IMAGE = 0.5
WEBHOOK_SECRET = "fault-test-webhook-secret-0123456789"
#: Generous: the point is what happens eventually, not how fast a busy 2-core machine is.
FINISH_DEADLINE_SECONDS = 180.0
WEBHOOK_DEADLINE_SECONDS = 45.0
#: After the last expected webhook, how long to keep listening for duplicates.
SETTLE_SECONDS = 3.0
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "teal", "pink")


@dataclass
class ProxiedBroker:
    kind: str
    proxy: TcpProxy
    #: SENTINEL_* variables that send the broker's traffic (and, on Redis, everything Redis) through the proxy.
    env: dict[str, str]


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[ProxiedBroker]:
    namespace = f"sentinel-fault-{uuid.uuid4().hex[:10]}"
    if request.param == "redis":
        redis_parts = urlsplit(REDIS_URL)
        with TcpProxy(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379) as proxy:
            env = {
                "SENTINEL_REDIS_URL": proxy.url("redis", path=redis_parts.path or "/0"),
                "SENTINEL_REDIS_NAMESPACE": namespace,
            }
            try:
                yield ProxiedBroker("redis", proxy, env)
            finally:
                delete_redis_keys(namespace)
        return
    host, port, userinfo = rabbitmq_address()
    with rabbitmq_vhost() as vhost, TcpProxy(host, port) as proxy:
        env = {
            "SENTINEL_BROKER_URL": proxy.url("amqp", userinfo, f"/{vhost}"),
            # Rate limits and wake-ups on the machine's Redis, directly: only the broker blinks.
            "SENTINEL_REDIS_URL": REDIS_URL,
            "SENTINEL_REDIS_NAMESPACE": namespace,
        }
        try:
            yield ProxiedBroker("rabbitmq", proxy, env)
        finally:
            delete_redis_keys(namespace)


def job_body(index: int, run: str, callback_url: str) -> dict:
    return {
        "task": "text-to-image",
        "prompt": f"a {COLOURS[index % len(COLOURS)]} ball, job {index} of run {run}",
        "params": {"width": 256, "height": 256},
        "callback_url": callback_url,
    }


def test_proxy_cut_refuses_then_restore_serves_again() -> None:
    """The harness itself: through the proxy Redis answers; cut, it is unreachable; restored, it answers again."""
    parts = urlsplit(REDIS_URL)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        client = redis.Redis.from_url(proxy.url("redis", path="/0"), socket_timeout=5, socket_connect_timeout=5)
        assert client.ping()
        assert proxy.cut() == 1
        with pytest.raises(redis.ConnectionError):
            client.ping()
        proxy.restore()
        assert client.ping()
        client.close()


@pytest.mark.timeout(480)
def test_broker_down_6s_during_50_job_submissions(broker: ProxiedBroker, database: str, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    env = clean_env(
        SENTINEL_DATABASE_URL=database,
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_WEBHOOK_SECRET=WEBHOOK_SECRET,
        # The receiver is on loopback, which callback URLs may not reach unless allowed.
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        SENTINEL_ANONYMOUS_RPM="1000000",
        SENTINEL_ROUTES=str(write_local_routes(tmp_path / "routes.yaml", SECONDS_PER_IMAGE)),
        **broker.env,
    )
    with WebhookReceiver(WEBHOOK_SECRET) as receiver:
        server, base = start_server(env, tmp_path / "api.log")
        workers = [
            RunningProcess([SENTINEL, "worker", "--processes", "1", "--threads", "2"], env, tmp_path / f"worker{n}.log")
            for n in range(WORKERS)
        ]
        try:
            wait_for_workers(workers)
            load = JobLoad(base, [job_body(i, run, receiver.url) for i in range(BATCH)], threads=4, pause_seconds=0.25)
            load.start()

            def mid_stream() -> bool:
                return load.accepted() >= CUT_AFTER and JobCensus.read(database).in_flight() > 0

            started, _ = wait_for(mid_stream, 90, every=0.05)
            assert started, (
                f"no moment with {CUT_AFTER} accepted and one in flight: {load.answer_counts()}\n"
                + (server.output()[-3000:])
            )
            accepted_before_cut = load.accepted()
            in_flight_at_cut = JobCensus.read(database).in_flight()
            with broker.proxy.outage(OUTAGE_SECONDS) as dropped:
                pass  # the clients keep submitting (and retrying) meanwhile
            accepted_during_outage = load.accepted() - accepted_before_cut
            # Otherwise the outage met no submission and proves nothing.
            assert accepted_before_cut < BATCH, "every job was accepted before the broker went away"
            restored_at = datetime.now(UTC)
            submitted = load.join(timeout=180)

            def all_final() -> bool:
                census = JobCensus.read(database)
                return bool(census.jobs) and not census.unfinished() and len(census.jobs) >= len(load.job_ids())

            finished, _ = wait_for(all_final, FINISH_DEADLINE_SECONDS, every=1.0)
            census = JobCensus.read(database)
            every_job = list(census.jobs)
            delivered, _ = wait_for(
                lambda: not receiver.missing("job.finished", every_job), WEBHOOK_DEADLINE_SECONDS, every=0.5
            )
            if delivered:
                time.sleep(SETTLE_SECONDS)  # a duplicate, if one comes, comes right behind
            census = JobCensus.read(database)
        finally:
            for worker in workers:
                worker.stop()
            server.stop()

    client_ids = load.job_ids()
    orphans = sorted(set(census.jobs) - set(client_ids))
    lost = sorted(set(client_ids) - set(census.jobs))
    gave_up = [(s.index, s.gave_up) for s in load.submissions if s.gave_up]
    not_done = {job_id: job.state for job_id, job in census.jobs.items() if job.state != "done"}
    doubled = census.doubled_generations()
    webhook_missing = receiver.missing("job.finished", client_ids)
    webhook_duplicated = receiver.duplicated("job.finished")
    orphan_webhooks = sum(receiver.counts("job.finished")[job_id] for job_id in orphans)
    last_finished = census.last_finished_at()
    recovery = f"{(last_finished - restored_at).total_seconds():.1f} s" if last_finished else "n/a"
    report = "\n".join(
        [
            f"broker ({broker.kind}) down {OUTAGE_SECONDS:g} s during {BATCH} POST /v1/jobs "
            f"(cut after {accepted_before_cut} accepted, {in_flight_at_cut} in flight, {dropped} connections dropped; "
            f"{accepted_during_outage} accepted while it was away):",
            f"  client answers: {dict(load.answer_counts())}",
            f"  5xx answers: {load.server_errors()}; connection errors/timeouts: {load.transport_errors()}; "
            f"submissions given up: {len(gave_up)} {gave_up[:3]}",
            f"  jobs in the database: {len(census.jobs)} ({len(client_ids)} known to clients, {len(orphans)} "
            f"orphans no client was told about, {len(lost)} client jobs missing)",
            f"  job states: {dict(census.states())}; not final {FINISH_DEADLINE_SECONDS:g} s after the "
            f"submissions: {len(census.unfinished())}; final but not done: "
            f"{len([s for s in not_done.values() if s in ('failed', 'expired')])}",
            f"  attempts generated twice (images paid > attempts with an image): {len(doubled)} "
            f"{dict(list(doubled.items())[:3])}",
            f"  webhooks job.finished: {len(webhook_missing)} of {len(client_ids)} client jobs got none (lost); "
            f"{len(webhook_duplicated)} jobs got more than one {dict(list(webhook_duplicated.items())[:3])}; "
            f"{orphan_webhooks} went to orphan jobs; delivered rows in the database: "
            f"{sum(census.delivered_rows.values())}",
            f"  last job finished {recovery} after the broker came back; all submitted: {submitted}; "
            f"all final in time: {finished}",
        ]
    )
    print(report)
    problems = [
        what
        for what, bad in [
            ("5xx answers", load.server_errors() > 0),
            ("submissions given up", bool(gave_up)),
            (f"{len(census.jobs)} jobs, not {BATCH}", len(census.jobs) != BATCH),
            ("client jobs missing from the database", bool(lost)),
            ("jobs not done", bool(not_done)),
            ("attempts generated twice", bool(doubled)),
            ("lost webhooks", bool(webhook_missing)),
            ("duplicated webhooks", bool(webhook_duplicated)),
        ]
        if bad
    ]
    assert not problems, f"{', '.join(problems)}\n{report}"
