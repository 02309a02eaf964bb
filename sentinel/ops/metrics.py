"""The Prometheus exposition: every counter of :mod:`sentinel.telemetry.metrics`, plus queue depth.

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
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sentinel.settings import get_settings
from sentinel.telemetry import metrics as _counters  # noqa: F401  (registers the counters on REGISTRY)
from sentinel.worker import broker

#: Queues every deployment has, listed even before a message was sent on them.
QUEUES = ("judging", "jobs", "webhooks")


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


def waiting_messages(queue: str) -> int:
    """Messages of ``queue`` that no worker has taken yet (ready, or delayed for a retry)."""
    return int(sum(value for name, state, value in queue_depths([queue]) if state in ("ready", "delayed")))


def queue_depths(queues: list[str] | None = None) -> list[tuple[str, str, float]]:
    """Each queue's messages by state (every queue the broker knows of, unless ``queues`` names some)."""
    declared = (q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
    names = sorted(queues) if queues is not None else sorted({*QUEUES, *declared})
    if isinstance(broker, RedisBroker):
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
