"""Building, signing and delivering webhook bodies; every try is a row.

Signature: ``Sentinel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``. A receiver
recomputes it with the shared secret and rejects old timestamps (replays).

``Sentinel-Delivery`` names one delivery of one event (a job finished, a review decided): its id is chosen when
the delivery's message is written (:func:`sentinel.outbox.steps.deliver_webhook`) and travels in the message, so
every retry and every replay of that delivery carries the same id, and a receiver that took it once can tell.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import orjson
from sqlmodel import Session, func, select

from sentinel.errors import NotFound, SentinelError
from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService
from sentinel.keyfiles import read_or_create
from sentinel.models import WebhookDelivery
from sentinel.net.fetch import post_to_url
from sentinel.services import Services
from sentinel.telemetry.metrics import observe_webhook_try
from sentinel.worker.loop import run_async

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Sentinel-Signature"


class DeliveryFailed(dramatiq.Retry):
    """Raised so dramatiq retries the delivery with backoff. A receiver that is down is expected and the try is
    recorded (and logged as one warning): as a ``Retry``, dramatiq does not log it again as an error with a
    traceback."""


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


def legacy_delivery_id(kind: str, resource_id: str, event: str) -> str:
    """The id of a delivery whose message was written before ids were (the same for all its retries)."""
    return f"dlv_{uuid.uuid5(uuid.NAMESPACE_URL, f'sentinel:{kind}:{resource_id}:{event}').hex}"


class WebhookService:
    def __init__(self, services: Services, evaluations: EvaluationService, jobs: JobService) -> None:
        self.services = services
        self.evaluations = evaluations
        self.jobs = jobs

    def deliver_event(self, kind: str, resource_id: str, event: str, delivery_id: str | None = None) -> None:
        """One try at telling a job's or evaluation's callback_url; the body is built now, from the stored result,
        so a retry (or a replay) sends the latest state and never takes a receiver back to an older one. Raises
        DeliveryFailed when the receiver did not take it. A message written before delivery ids existed has
        none: its id is derived from what it delivers, so its retries still share one."""
        delivery_id = delivery_id or legacy_delivery_id(kind, resource_id, event)
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
            self.deliver(kind, resource_id, url, data, event, delivery_id)

    def secret(self) -> str:
        settings = self.services.settings
        if settings.webhook_secret:
            return settings.webhook_secret
        return read_or_create(Path(settings.data_dir) / "webhook-secret", lambda: secrets.token_hex(32)).strip()

    def deliver(
        self, kind: str, resource_id: str, url: str, data: dict[str, Any], event: str, delivery_id: str
    ) -> None:
        """One try; records it, and raises DeliveryFailed when the receiver did not take it and a retry may help
        (a redirect, or a 410 Gone, is recorded and not retried)."""
        body = orjson.dumps({"type": f"{kind}.{event}", "id": resource_id, "data": data})
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret(), timestamp, body),
            "Sentinel-Event": f"{kind}.{event}",
            "Sentinel-Delivery": delivery_id,
        }
        settings = self.services.settings
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        final = False
        try:
            answer = run_async(
                post_to_url(
                    url,
                    body,
                    headers=headers,
                    timeout=settings.webhook_timeout_seconds,
                    allowed_networks=settings.fetch_allowed_networks,
                    field="callback_url",
                )
            )
            status = answer.status
            if answer.location is not None:
                # Not followed (its target was never checked), and not retried: the same URL redirects again (an
                # http:// URL on a server that moved to https://, a missing trailing slash). Only the owner of the
                # callback_url can fix it, and the error says to what.
                error = (
                    f"receiver redirected to {answer.location} (HTTP {status}): set callback_url to it; "
                    "redirects are not followed"
                )
                final = True
            elif status == 410:
                # Gone: the receiver says this callback_url no longer takes deliveries (a subscription removed).
                # Retrying it for hours would only be refused again; the try is recorded, and a replay can still
                # send it once the receiver is back.
                error = "receiver answered HTTP 410 Gone: the callback_url no longer takes deliveries; not retried"
                final = True
            elif not 200 <= status < 300:
                error = f"receiver answered HTTP {status}"
        except SentinelError as exc:
            error = exc.message
        observe_webhook_try(f"{kind}.{event}", status)
        with Session(self.services.engine) as session:
            # A delivery's tries follow each other (a retry waits for the try before it), so the count numbers them;
            # a replay sent while retries still run may share a number, and the rows' ids still order them.
            tries = session.exec(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)
            ).one()
            session.add(
                WebhookDelivery(
                    delivery_id=delivery_id,
                    kind=kind,
                    resource_id=resource_id,
                    event=event,
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
            host = urlsplit(url).hostname or "?"
            logger.warning(
                "webhook delivery %s (%s %s %s), try %d to %s failed: %s",
                delivery_id,
                kind,
                resource_id,
                event,
                tries + 1,
                host,
                error,
            )
            if final:
                return  # recorded and logged: retrying would only repeat it
            raise DeliveryFailed(f"webhook to {host} failed: {error}")
