"""A webhook receiver that answers with a redirect is a final failure naming where it points: the same URL redirects
again (an http:// URL on a server that moved to https://, a missing trailing slash), so retrying could never
deliver. It was retried blindly, each try recorded as "receiver answered HTTP 302", and the delivery list never
showed the Location, so the owner could not tell what to fix. The redirect is still not followed: its target was
never checked."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService
from sentinel.settings import Settings
from sentinel.webhooks.deliveries import DeliveryLog
from sentinel.webhooks.service import WebhookService
from sentinel.wiring import build_services
from tests.support.handler_server import served


class _Redirecting(BaseHTTPRequestHandler):
    posts: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Redirecting.posts.append(self.path)
        self.send_response(302 if self.path == "/moved" else 204)
        if self.path == "/moved":
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/hooks/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    with served(_Redirecting) as url:
        yield url


def test_a_redirect_is_recorded_naming_its_location_and_not_retried(tmp_path: Path, receiver: str) -> None:
    services = build_services(Settings(data_dir=tmp_path, fetch_allowed_networks=["127.0.0.1/32"]))
    webhooks = WebhookService(services, EvaluationService(services), JobService(services, lambda: None))  # type: ignore[arg-type, return-value]
    # Returning (rather than raising dramatiq's Retry) is what ends the delivery: no retry is scheduled.
    webhooks.deliver("job", "job_redirected", f"{receiver}/moved", {"state": "done"}, "finished", "dl_redirected")
    assert _Redirecting.posts.count("/moved") == 1 and "/hooks/" not in _Redirecting.posts  # not followed
    tries = DeliveryLog(services).page(resource_id="job_redirected").data
    assert len(tries) == 1 and not tries[0]["delivered"] and tries[0]["status_code"] == 302
    assert f"receiver redirected to {receiver}/hooks/" in tries[0]["error"]
    assert "set callback_url to it" in tries[0]["error"]
