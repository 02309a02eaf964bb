"""Retries with one Idempotency-Key: a try that timed out after Sentinel did the work is answered, on retry, with
that work (never a second job or evaluation); busy answers are retried after their Retry-After; errors that are
the request's own fault are not retried."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from sentinel.client import Sentinel, SentinelAPIError, SentinelConnectionError
from tests.client.fault_proxy import Fault, fault_proxy
from tests.conftest import FIXTURES
from tests.support.tcp_proxy import TcpProxy

GOOD = FIXTURES / "product-white-background" / "good.jpg"
TASK = "product-white-background"


def _is_uuid4(text: str | None) -> bool:
    try:
        return uuid.UUID(text or "").version == 4
    except ValueError:
        return False


def test_an_evaluation_retried_after_a_timeout_is_the_one_first_created(sentinel_url: str) -> None:
    with fault_proxy(sentinel_url) as proxy:
        # The first POST reaches Sentinel, which creates the evaluation, but its answer never comes back.
        proxy.push("POST", "/v1/evaluations", Fault(stall=True))
        with Sentinel(proxy.url, timeout=2, max_retries=5, backoff=0.05) as sentinel:
            evaluation = sentinel.evaluate(GOOD, TASK)
        first = proxy.withheld_answer().json()
        posts = proxy.requests("POST", "/v1/evaluations")
    assert evaluation.id == first["id"]  # the retry was answered with the first try's evaluation
    assert evaluation.verdict == "green"
    assert len(posts) >= 2 and posts[0].fault is not None and posts[0].fault.stall
    assert len({post.idempotency_key for post in posts}) == 1 and _is_uuid4(posts[0].idempotency_key)


def test_a_job_retried_after_a_timeout_is_made_once(sentinel_url: str) -> None:
    prompt = f"a white mug on a white background ({uuid.uuid4().hex[:8]})"
    with fault_proxy(sentinel_url) as proxy:
        proxy.push("POST", "/v1/jobs", Fault(stall=True))
        with Sentinel(proxy.url, timeout=2, max_retries=5, backoff=0.05) as sentinel:
            job = sentinel.create_job(TASK, prompt)
            jobs = sentinel.list_jobs(task=TASK, limit=500)
        first = proxy.withheld_answer().json()
        posts = proxy.requests("POST", "/v1/jobs")
    assert job.id == first["id"]
    assert [j.id for j in jobs if j.prompt == prompt] == [job.id]  # one job, not one per try
    assert len(posts) >= 2 and len({post.idempotency_key for post in posts}) == 1


def test_each_call_gets_a_key_of_its_own(sentinel_url: str) -> None:
    with fault_proxy(sentinel_url) as proxy, Sentinel(proxy.url) as sentinel:
        one = sentinel.evaluate(GOOD, TASK, wait=False)
        two = sentinel.evaluate(GOOD, TASK, wait=False)
        keys = [post.idempotency_key for post in proxy.requests("POST", "/v1/evaluations")]
    assert one.id != two.id
    assert len(keys) == 2 and keys[0] != keys[1] and all(_is_uuid4(key) for key in keys)


def test_429_is_retried_after_its_retry_after(sentinel_url: str) -> None:
    with fault_proxy(sentinel_url) as proxy:
        proxy.push("POST", "/v1/evaluations", Fault.error(429, "rate_limit_error", "slow down", retry_after="1"))
        with Sentinel(proxy.url, backoff=0.01) as sentinel:
            evaluation = sentinel.evaluate(GOOD, TASK, wait=False)
        posts = proxy.requests("POST", "/v1/evaluations")
    assert evaluation.id.startswith("ev_")
    assert len(posts) == 2 and posts[0].idempotency_key == posts[1].idempotency_key
    # The server asked for a second; our own backoff (0.01 s) would have come back far sooner.
    assert posts[1].at - posts[0].at >= 0.95


def test_502_503_and_504_are_retried_with_the_same_key(sentinel_url: str) -> None:
    with fault_proxy(sentinel_url) as proxy:
        proxy.push(
            "POST",
            "/v1/jobs",
            Fault(502, body=b"<html>Bad Gateway</html>", content_type="text/html"),
            Fault.error(503, "service_unavailable", "the database is unavailable right now", retry_after="0"),
            Fault(504, body=b"upstream timed out", content_type="text/plain"),
        )
        with Sentinel(proxy.url, max_retries=3, backoff=0.01) as sentinel:
            job = sentinel.create_job(TASK, "a blue bottle on a white background")
        posts = proxy.requests("POST", "/v1/jobs")
    assert job.id.startswith("job_")
    assert [post.fault.status if post.fault else 202 for post in posts] == [502, 503, 504, 202]
    assert len({post.idempotency_key for post in posts}) == 1


def test_retries_stop_after_max_retries_with_the_last_error(sentinel_url: str) -> None:
    with fault_proxy(sentinel_url) as proxy:
        busy = Fault.error(503, "service_unavailable", "the database is unavailable right now", retry_after="0")
        proxy.push("GET", "/v1/jobs", busy, busy, busy, busy)
        with Sentinel(proxy.url, max_retries=2, backoff=0.01) as sentinel, pytest.raises(SentinelAPIError) as raised:
            sentinel.list_jobs()
        assert len(proxy.requests("GET", "/v1/jobs")) == 3
    assert (raised.value.status_code, raised.value.type) == (503, "service_unavailable")
    assert raised.value.message == "the database is unavailable right now"


@pytest.mark.parametrize(
    ("image", "task", "status", "error_type"),
    [
        (GOOD, "no-such-task", 400, "unknown_task"),
        (b"these bytes are not an image", TASK, 422, "bad_image"),
    ],
)
def test_the_requests_own_errors_are_not_retried(
    sentinel_url: str, image: object, task: str, status: int, error_type: str
) -> None:
    with fault_proxy(sentinel_url) as proxy:
        with Sentinel(proxy.url, max_retries=3, backoff=0.01) as sentinel, pytest.raises(SentinelAPIError) as raised:
            sentinel.evaluate(image, task)  # type: ignore[arg-type]
        assert len(proxy.requests("POST", "/v1/evaluations")) == 1
    assert (raised.value.status_code, raised.value.type) == (status, error_type)


def test_a_decision_that_timed_out_is_not_sent_again(sentinel_url: str) -> None:
    # Sentinel does not deduplicate decisions by Idempotency-Key: sending one again after a timeout would only
    # earn a 409 from our own first try. The caller is told the answer was lost; the decision stands.
    with Sentinel(sentinel_url) as sentinel:
        shot = sentinel.evaluate(FIXTURES / "product-white-background" / "watermark.jpg", TASK)
    assert shot.verdict == "amber"
    with fault_proxy(sentinel_url) as proxy:
        proxy.push("POST", "/v1/review/", Fault(stall=True))
        sentinel = Sentinel(proxy.url, timeout=1, max_retries=3, backoff=0.01)
        with sentinel, pytest.raises(SentinelConnectionError, match="no answer in time"):
            sentinel.decide(shot.id, "approve", note="watermark is ours")
        assert proxy.withheld_answer().json()["final_verdict"] == "green"
        assert len(proxy.requests("POST", "/v1/review/")) == 1
    with Sentinel(sentinel_url) as sentinel:
        assert sentinel.get_evaluation(shot.id).final_verdict == "green"


def test_refused_connections_are_retried_until_the_server_is_back(sentinel_url: str) -> None:
    port = int(sentinel_url.rsplit(":", 1)[1])
    with TcpProxy("127.0.0.1", port) as tcp:
        tcp.cut("refuse")

        def restore_after_the_first_refusal() -> None:
            deadline = time.monotonic() + 30
            while tcp.accepted == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            tcp.restore()

        restorer = threading.Thread(target=restore_after_the_first_refusal)
        restorer.start()
        with Sentinel(tcp.url("http"), max_retries=8, backoff=0.05) as sentinel:
            evaluation = sentinel.evaluate(GOOD, TASK)
        restorer.join()
    assert evaluation.verdict == "green"


def test_a_server_that_stays_away_raises_a_connection_error_after_the_retries(sentinel_url: str) -> None:
    port = int(sentinel_url.rsplit(":", 1)[1])
    with TcpProxy("127.0.0.1", port) as tcp:
        tcp.cut("refuse")
        sentinel = Sentinel(tcp.url("http"), max_retries=2, backoff=0.01)
        with sentinel, pytest.raises(SentinelConnectionError, match="after 3 tries"):
            sentinel.get_job("job_x")
        assert tcp.accepted == 3


def test_a_retry_after_of_an_hour_does_not_park_the_client(sentinel_url: str) -> None:
    # A misconfigured proxy's Retry-After past a minute is not obeyed: our own backoff is used instead.
    with fault_proxy(sentinel_url) as proxy:
        proxy.push("GET", "/v1/jobs", Fault.error(503, "service_unavailable", "down for the night", retry_after="3600"))
        with Sentinel(proxy.url, backoff=0.01) as sentinel:
            sentinel.list_jobs()
        first, second = proxy.requests("GET", "/v1/jobs")
    assert second.at - first.at < 60


def test_an_answer_the_server_says_no_retry_can_change_is_not_retried(sentinel_url: str) -> None:
    # A 503 for a route whose providers have no key here: retrying would only repeat it, and the server says so.
    with fault_proxy(sentinel_url) as proxy:
        proxy.push(
            "POST",
            "/v1/jobs",
            Fault.error(
                503, "server_error", "openai:gpt-image-2 skipped (OPENAI_API_KEY is not set)", x_should_retry="false"
            ),
        )
        with Sentinel(proxy.url, max_retries=3, backoff=0.01) as sentinel, pytest.raises(SentinelAPIError) as failed:
            sentinel.create_job(TASK, "a blue bottle on a white background")
        posts = proxy.requests("POST", "/v1/jobs")
    assert failed.value.status_code == 503
    assert len(posts) == 1
