"""A webhook receiver on 127.0.0.1 that takes every delivery (204) and records it, for counting lost and duplicated
deliveries. Callback URLs on loopback need ``SENTINEL_FETCH_ALLOWED_NETWORKS=127.0.0.1/32`` in the workers' env."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sentinel.webhooks.service import SIGNATURE_HEADER, verify


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver took."""

    received_at: float
    #: The body's ``type`` (``job.finished``, ``evaluation.finished``, ``job.decided``…) and ``id``.
    event: str
    resource_id: str
    #: The body's ``data.state`` (a job's state when the body was built), if any.
    state: str | None
    #: Sentinel-Delivery header: one per delivery, the same on its retries and replays.
    delivery_id: str | None
    signature_valid: bool


class WebhookReceiver:
    """``with WebhookReceiver(secret) as receiver:`` … ``receiver.url`` as callback_url."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(body, self.headers.get(SIGNATURE_HEADER), self.headers.get("Sentinel-Delivery"))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, body: bytes, signature: str | None, delivery_id: str | None) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        valid = bool(self.secret and signature and verify(self.secret, signature, body))
        delivery = Delivery(
            received_at=time.monotonic(),
            event=str(payload.get("type")),
            resource_id=str(payload.get("id")),
            state=data.get("state"),
            delivery_id=delivery_id,
            signature_valid=valid,
        )
        with self._lock:
            self.deliveries.append(delivery)

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def counts(self, event: str) -> Counter[str]:
        """Deliveries of ``event`` per resource id."""
        return Counter(d.resource_id for d in self.snapshot() if d.event == event)

    def missing(self, event: str, resource_ids: Iterable[str]) -> list[str]:
        """Of ``resource_ids``, those that have not had ``event`` delivered yet."""
        seen = self.counts(event)
        return [rid for rid in resource_ids if not seen[rid]]

    def duplicated(self, event: str) -> dict[str, int]:
        """Resources that got ``event`` more than once (every delivery was answered 204, so each extra one is a
        duplicate of an event the receiver had already acknowledged)."""
        return {rid: n for rid, n in self.counts(event).items() if n > 1}
