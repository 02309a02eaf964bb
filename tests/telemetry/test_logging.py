"""Request ids: taken from the caller or made, echoed, on every log line, and carried into the workers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from sentinel.telemetry.logging import JsonFormatter, RequestIdFilter, RequestIdMessages, TextFormatter, request_id
from tests.conftest import png_bytes


class Records(logging.Handler):
    """Keeps records, with the request id the filter saw in the thread that logged them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("sentinel")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_the_callers_request_id_comes_back_and_tags_the_access_line(client, records) -> None:
    response = client.get("/v1/rubrics", headers={"X-Request-Id": "checkout-42.retry_1"})
    assert response.headers["x-request-id"] == "checkout-42.retry_1"
    access = [r for r in records.records if r.name == "sentinel.access" and r.route == "/v1/rubrics"]
    assert access and access[-1].request_id == "checkout-42.retry_1"
    assert access[-1].status == 200 and access[-1].method == "GET"


@pytest.mark.parametrize("supplied", [None, "", "x" * 65, "has space", "semi;colon", "ünïcode"])
def test_a_missing_or_unsafe_request_id_is_replaced(client, supplied) -> None:
    headers = {} if supplied is None else {"X-Request-Id": supplied.encode("utf-8")}
    response = client.get("/healthz", headers=headers)
    made = response.headers["x-request-id"]
    assert made != supplied and len(made) == 32 and made.isalnum()


def test_an_error_answer_carries_the_request_id_too(client) -> None:
    response = client.get("/v1/evaluations/ev_nope", headers={"X-Request-Id": "abc"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "abc"


def test_the_request_id_reaches_the_worker_thread_that_finalises_the_evaluation(client, records) -> None:
    created = client.post(
        "/v1/evaluations",
        data={"task": "text-to-image"},
        files={"image": ("a.png", png_bytes(80, 80, (1, 200, 3)))},
        headers={"X-Request-Id": "eval-request-7"},
    ).json()
    done = client.get(f"/v1/evaluations/{created['id']}?wait=30").json()
    assert done["status"] == "done"
    finalised = [r for r in records.records if getattr(r, "evaluation_id", None) == created["id"]]
    assert finalised, [r.getMessage() for r in records.records]
    # Logged by an embedded worker thread, not by the request: the id travelled in the message.
    assert finalised[0].threadName != "MainThread"
    assert finalised[0].request_id == "eval-request-7"
    assert finalised[0].verdict == done["verdict"]


def test_json_lines_have_the_fields_and_the_extras() -> None:
    record = logging.LogRecord("sentinel.x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    record.job_id = "job_1"
    token = request_id.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = JsonFormatter().format(record)
    document = json.loads(line)
    assert "\n" not in line
    assert document["level"] == "warning" and document["logger"] == "sentinel.x"
    assert document["message"] == "hello world" and document["request_id"] == "rid-1"
    assert document["job_id"] == "job_1" and document["time"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exception"]
    assert TextFormatter("%(message)s").format(record) == "hello world [rid-1]"


def test_messages_carry_the_request_id_into_processing() -> None:
    broker = StubBroker()
    broker.add_middleware(RequestIdMessages())
    seen: list[str | None] = []

    @dramatiq.actor(broker=broker, queue_name="ops-test")
    def remember() -> None:
        seen.append(request_id.get())

    token = request_id.set("from-the-post")
    try:
        message = remember.send()
    finally:
        request_id.reset(token)
    remember.send()  # sent outside any request: no id
    assert message.options["request_id"] == "from-the-post"
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join("ops-test", timeout=5000)
        worker.join()
    finally:
        worker.stop()
    assert seen == ["from-the-post", None]
