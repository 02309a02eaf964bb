"""Building, signing and delivering webhook bodies; every try is a row.

Signature: ``Sentinel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``. A receiver
recomputes it with the shared secret and rejects old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from sqlmodel import Session, func, select

from sentinel.errors import NotFound, SentinelError
from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService
from sentinel.keyfiles import read_or_create
from sentinel.models import WebhookDelivery
from sentinel.net.fetch import post_to_url
from sentinel.services import Services
from sentinel.worker.loop import run_async

SIGNATURE_HEADER = "Sentinel-Signature"


class DeliveryFailed(Exception):
    """Raised so dramatiq retries the delivery with backoff."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiver does (and what the tests check)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class WebhookService:
    def __init__(self, services: Services, evaluations: EvaluationService, jobs: JobService) -> None:
        self.services = services
        self.evaluations = evaluations
        self.jobs = jobs

    def deliver_event(self, kind: str, resource_id: str, event: str) -> None:
        """One try at telling a job's or evaluation's callback_url; the body is built now, from the stored result,
        so a retry sends the latest state. Raises DeliveryFailed when the receiver did not take it."""
        try:
            if kind == "job":
                job, attempts = self.jobs.get(resource_id)
                url, data = job.callback_url, self.jobs.view(job, attempts)
            else:
                evaluation, votes = self.evaluations.get(resource_id)
                url, data = evaluation.callback_url, self.evaluations.view(evaluation, votes)
        except NotFound:
            return  # deleted since (storage clean-up): nothing to tell
        if url:
            self.deliver(kind, resource_id, url, data, event)

    def secret(self) -> str:
        settings = self.services.settings
        if settings.webhook_secret:
            return settings.webhook_secret
        return read_or_create(Path(settings.data_dir) / "webhook-secret", lambda: secrets.token_hex(32)).strip()

    def deliver(self, kind: str, resource_id: str, url: str, data: dict[str, Any], event: str = "finished") -> None:
        """One try; records it, and raises DeliveryFailed when the receiver did not take it."""
        body = orjson.dumps({"type": f"{kind}.{event}", "id": resource_id, "data": data})
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret(), timestamp, body),
            "Sentinel-Event": f"{kind}.{event}",
            "Sentinel-Delivery": uuid.uuid4().hex,
        }
        settings = self.services.settings
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = run_async(
                post_to_url(
                    url,
                    body,
                    headers=headers,
                    timeout=settings.webhook_timeout_seconds,
                    allowed_networks=settings.fetch_allowed_networks,
                    field="callback_url",
                )
            )
            if not 200 <= status < 300:
                error = f"receiver answered HTTP {status}"
        except SentinelError as exc:
            error = exc.message
        with Session(self.services.engine) as session:
            tries = session.exec(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.resource_id == resource_id)
            ).one()
            session.add(
                WebhookDelivery(
                    kind=kind,
                    resource_id=resource_id,
                    url=url,
                    attempt=tries + 1,
                    status_code=status,
                    error=error,
                    delivered=error is None,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
            )
            session.commit()
        if error is not None:
            raise DeliveryFailed(f"webhook to {url} failed: {error}")
