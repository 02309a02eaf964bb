"""The dramatiq broker every domain's actors are registered on.

Importing this module configures the broker from settings: RabbitMQ when
``SENTINEL_BROKER_URL`` is an ``amqp://`` URL, Redis when it is a ``redis://`` one or
``SENTINEL_REDIS_URL`` is set, otherwise dramatiq's in-process stub broker, whose
worker threads ``sentinel serve`` starts inside the API process.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.worker import Worker

from sentinel.ops.logging import RequestIdMessages
from sentinel.settings import Settings, get_settings
from sentinel.worker.loop import FinishStartedWork

#: Retries for infrastructure errors (database briefly away); a judge's own failure is a vote, not a retry.
MAX_RETRIES = 5


def build_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.resolved_broker_url
    if settings.broker_kind == "rabbitmq":
        # Publisher confirms: a send returns once RabbitMQ has the message, so a committed change never
        # silently loses the message it implies. Queues are durable and messages persistent (dramatiq's default).
        return RabbitmqBroker(url=url, confirm_delivery=True)
    if url:
        return RedisBroker(
            url=url,
            namespace=settings.redis_namespace,
            heartbeat_timeout=settings.redis_heartbeat_timeout_ms,
            maintenance_chance=settings.redis_maintenance_chance,
        )
    return StubBroker()


broker = build_broker(get_settings())
# Messages carry the request id of the HTTP request that caused them, into the worker's log lines.
broker.add_middleware(RequestIdMessages(get_settings().log_format))
# Vision-judge calls run on the background loop, not in a worker thread: a stopping worker lets them finish.
broker.add_middleware(FinishStartedWork(get_settings().shutdown_grace_seconds))
dramatiq.set_broker(broker)


def is_embedded() -> bool:
    return isinstance(broker, StubBroker)


def start_embedded_worker(threads: int) -> Worker | None:
    """Worker threads inside this process, for the embedded broker only."""
    if not is_embedded():
        return None
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker
