"""Prometheus metrics: HTTP requests, provider calls, judge latency, verdicts, queue depth.

The API serves them at ``/metrics``. ``sentinel worker --metrics-port N`` serves the workers' on port N:
dramatiq runs several worker processes, so they write to prometheus_client's multiprocess directory
(``PROMETHEUS_MULTIPROC_DIR``, set by ``sentinel worker``) and one extra process adds them up on request.
Queue depth is read from the broker when scraped, never kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("sentinel.access")

#: Queues every deployment has, listed even before a message was sent on them.
QUEUES = ("judging", "jobs", "webhooks")
#: Paths probed every few seconds: logged at debug level only.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})

# The *_created series only double the output; rates need none of them.
disable_created_metrics()

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

HTTP_REQUESTS = Counter(
    "sentinel_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "sentinel_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response body.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "sentinel_provider_calls_total",
    "Calls to image providers (and candidates skipped), by provider, provider model and outcome.",
    ["provider", "model", "outcome"],
)
JUDGE_DURATION = Histogram(
    "sentinel_judge_duration_seconds",
    "Time a judge took to vote (or to abstain).",
    ["judge"],
    buckets=_LATENCY_BUCKETS,
)
JUDGE_VOTES = Counter(
    "sentinel_judge_votes_total",
    "Votes recorded, by judge and vote (pass, fail, abstain).",
    ["judge", "vote"],
)
VERDICTS = Counter(
    "sentinel_verdicts_total",
    "Evaluations finalised, by task and verdict.",
    ["task", "verdict"],
)


def observe_provider_calls(rows: Iterable[Any]) -> None:
    """Count call-log rows (anything with provider, provider_model and outcome)."""
    for row in rows:
        PROVIDER_CALLS.labels(row.provider, row.provider_model, row.outcome).inc()


def observe_vote(judge: str, passed: bool | None, duration_ms: float) -> None:
    JUDGE_DURATION.labels(judge).observe(max(duration_ms, 0.0) / 1000)
    JUDGE_VOTES.labels(judge, "abstain" if passed is None else ("pass" if passed else "fail")).inc()


def observe_verdict(task: str, verdict: str) -> None:
    VERDICTS.labels(task, verdict).inc()


# --- HTTP ------------------------------------------------------------------------------------------------------


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/jobs/{job_id}``), never the raw path: ids would explode the series."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template or "unmatched"


class RequestMetrics:
    """Pure ASGI: counts and times every HTTP request by route template, and writes the access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route, str(status)).observe(elapsed)
            level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
            if logger.isEnabledFor(level):
                client = scope.get("client")
                logger.log(
                    level,
                    '"%s %s" %d %.1f ms',
                    method,
                    scope.get("path", ""),
                    status,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )


# --- queue depth -----------------------------------------------------------------------------------------------


class QueueDepth(Collector):
    """``sentinel_queue_messages{queue, state}``, read from the broker at scrape time."""

    NAME = "sentinel_queue_messages"
    HELP = "Messages in each dramatiq queue: ready, in_progress (fetched, not acknowledged), delayed, dead."

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=["queue", "state"])

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["queue", "state"])
        try:
            for queue, state, value in queue_depths():
                family.add_metric([queue, state], value)
        except Exception as exc:  # a scrape must not fail because the broker is away; /readyz says so
            logging.getLogger(__name__).warning("queue depth unavailable: %s", exc)
        yield family


def queue_depths() -> list[tuple[str, str, float]]:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.brokers.redis import RedisBroker

    from sentinel.worker import broker

    names = sorted({*QUEUES, *(q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))})
    if isinstance(broker, RedisBroker):
        from sentinel.settings import get_settings

        settings = get_settings()
        return _redis_depths(settings.resolved_broker_url or "", broker.namespace, names)
    if isinstance(broker, RabbitmqBroker):
        return _rabbitmq_depths(broker, names)
    return _stub_depths(broker, names)


def _rabbitmq_depths(broker: Any, names: list[str]) -> list[tuple[str, str, float]]:
    # RabbitMQ counts the ready messages of a queue (and of its delay and dead-letter queues, which dramatiq
    # declares beside it); those delivered and not yet acknowledged are not counted, so there is no in_progress.
    rows: list[tuple[str, str, float]] = []
    for name in names:
        ready, delayed, dead = broker.get_queue_message_counts(name)
        rows += [(name, "ready", float(ready)), (name, "delayed", float(delayed)), (name, "dead", float(dead))]
    return rows


def _stub_depths(broker: Any, names: list[str]) -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    for name in names:
        queue = broker.queues.get(name)
        delayed = broker.queues.get(f"{name}.DQ")
        rows.append((name, "ready", float(queue.qsize()) if queue is not None else 0.0))
        rows.append((name, "delayed", float(delayed.qsize()) if delayed is not None else 0.0))
        rows.append((name, "dead", float(len(getattr(broker, "dead_letters_by_queue", {}).get(name, ())))))
    return rows


@lru_cache(maxsize=4)
def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def _redis_depths(url: str, namespace: str, names: list[str]) -> list[tuple[str, str, float]]:
    # The layout of dramatiq's RedisBroker: a list of ready ids per queue, a hash of every message not yet
    # acknowledged, and the same for the delay queue (.DQ) and the dead letters (.XQ).
    pipe = _redis_client(url).pipeline(transaction=False)
    for name in names:
        key = f"{namespace}:{name}"
        pipe.llen(key)
        pipe.hlen(f"{key}.msgs")
        pipe.hlen(f"{key}.DQ.msgs")
        pipe.hlen(f"{key}.XQ.msgs")
    answers = pipe.execute()
    rows: list[tuple[str, str, float]] = []
    for index, name in enumerate(names):
        ready, total, delayed, dead = answers[index * 4 : index * 4 + 4]
        rows += [
            (name, "ready", float(ready)),
            (name, "in_progress", float(max(total - ready, 0))),
            (name, "delayed", float(delayed)),
            (name, "dead", float(dead)),
        ]
    return rows


REGISTRY.register(QueueDepth())


# --- exposition ------------------------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def exposition_registry() -> CollectorRegistry:
    """This process's metrics, or every worker process's when they share a multiprocess directory."""
    if not multiprocess_dir():
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueDepth())
    return registry


def render() -> tuple[bytes, str]:
    """The text exposition and its content type."""
    return generate_latest(exposition_registry()), CONTENT_TYPE_LATEST


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> Any:
    """Serve the metrics on ``addr:port`` from a background thread; returns the HTTP server."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr, registry=exposition_registry())
    return server


def prepare_worker_metrics(port: int) -> dict[str, str]:
    """Environment for ``dramatiq`` so its processes share one fresh multiprocess directory (wiped each start)."""
    directory = Path(tempfile.gettempdir()) / f"sentinel-worker-metrics-{port}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(directory), "SENTINEL_WORKER_METRICS_PORT": str(port)}


def serve_worker_metrics() -> int:
    """dramatiq ``--fork-function``: serve the worker processes' metrics until dramatiq stops this process."""
    port = int(os.environ["SENTINEL_WORKER_METRICS_PORT"])
    start_metrics_server(port)
    logging.getLogger(__name__).info("worker metrics on :%d/metrics", port)
    while True:
        time.sleep(3600)
