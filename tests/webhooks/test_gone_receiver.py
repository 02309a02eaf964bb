"""A webhook receiver that answers 410 Gone is not retried (outside probe minor note): it says the callback_url no
longer takes deliveries, as many webhook senders read it; retrying it eight times only repeats the refusal. The try
is recorded saying so; a 500 is still retried."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService
from sentinel.settings import Settings
from sentinel.webhooks.deliveries import DeliveryLog
from sentinel.webhooks.service import DeliveryFailed, WebhookService
from sentinel.wiring import build_services
from tests.support.handler_server import served


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(410 if self.path == "/gone" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    with served(_Receiver) as url:
        yield url


def webhooks_of(tmp_path: Path) -> tuple[WebhookService, DeliveryLog]:
    services = build_services(Settings(data_dir=tmp_path, fetch_allowed_networks=["127.0.0.1/32"]))
    service = WebhookService(services, EvaluationService(services), JobService(services, lambda: None))  # type: ignore[arg-type, return-value]
    return service, DeliveryLog(services)


def test_a_gone_receiver_is_recorded_and_not_retried(tmp_path: Path, receiver: str) -> None:
    webhooks, log = webhooks_of(tmp_path)
    # Returning (rather than raising for dramatiq to retry) is what ends the delivery.
    webhooks.deliver("job", "job_gone", f"{receiver}/gone", {"state": "done"}, "finished", "dl_gone")
    tries = log.page(resource_id="job_gone").data
    assert len(tries) == 1 and not tries[0]["delivered"] and tries[0]["status_code"] == 410
    assert "410 Gone" in tries[0]["error"] and "not retried" in tries[0]["error"]


def test_a_failing_receiver_is_still_retried(tmp_path: Path, receiver: str) -> None:
    webhooks, _ = webhooks_of(tmp_path)
    with pytest.raises(DeliveryFailed):
        webhooks.deliver("job", "job_down", f"{receiver}/down", {"state": "done"}, "finished", "dl_down")
