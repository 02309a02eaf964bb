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
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sentinel.evaluation import queue_depth as depth
from sentinel.evaluation.queue_depth import rabbitmq_depths as _rabbitmq_depths  # noqa: F401  (read here before)
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
    return depth.waiting_messages(broker, queue)


def queue_depths(queues: list[str] | None = None) -> list[tuple[str, str, float]]:
    """Each queue's messages by state (every queue the broker knows of, unless ``queues`` names some)."""
    declared = (q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
    names = sorted(queues) if queues is not None else sorted({*QUEUES, *declared})
    return depth.queue_depths(broker, names)


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
    from sentinel.settings import get_settings
    from sentinel.telemetry.logging import quiet_libraries, reformat_handlers

    # dramatiq set this process's logging up (a pipe to its parent) in its own text format: written in
    # SENTINEL_LOG_FORMAT instead, as the worker processes' are once they boot.
    reformat_handlers(get_settings().log_format)
    quiet_libraries()
    port = int(os.environ["SENTINEL_WORKER_METRICS_PORT"])
    start_metrics_server(port)
    logging.getLogger(__name__).info("worker metrics on :%d/metrics", port)
    while True:
        time.sleep(3600)
