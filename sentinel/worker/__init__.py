"""The dramatiq broker every domain's actors are registered on.

Importing this module configures the broker from settings: RabbitMQ when
``SENTINEL_BROKER_URL`` is an ``amqp://`` URL, Redis when it is a ``redis://`` one or
``SENTINEL_REDIS_URL`` is set, otherwise dramatiq's in-process stub broker, whose
worker threads ``sentinel serve`` starts inside the API process.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.worker import Worker

from sentinel.settings import WORKER_TIMEOUT_MS, Settings, get_settings
from sentinel.telemetry.logging import RequestIdMessages
from sentinel.worker.idle import WaitForWork
from sentinel.worker.loop import FinishStartedWork
from sentinel.worker.own_threads import OwnThreadsForQueue

#: The queue of webhook deliveries (sentinel.outbox.steps.WEBHOOKS: the worker layer does not import the outbox).
WEBHOOKS_QUEUE = "webhooks"

#: Retries for infrastructure errors (database briefly away); a judge's own failure is a vote, not a retry.
MAX_RETRIES = 5


#: Seconds a broker call may take before it counts as failed: a broker that is away (or a network that drops
#: packets) makes the outbox relay try again later instead of hanging it.
BROKER_SOCKET_TIMEOUT = 10
#: RabbitMQ connection parameters Sentinel sets unless the URL sets them (pika's URL query parameters).
RABBITMQ_URL_DEFAULTS = {"socket_timeout": "10", "blocked_connection_timeout": "30", "connection_attempts": "1"}


def with_url_defaults(url: str, defaults: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return urlunsplit(parts._replace(query=urlencode(defaults | query)))


def build_broker(settings: Settings) -> dramatiq.Broker:
    broker = _broker_for(settings)
    # Idle worker threads wait for a message (or their worker's stop) instead of polling at the worker timeout.
    broker.add_middleware(WaitForWork())
    # Webhook deliveries (which wait on other people's servers) run on threads of their own in every worker process,
    # never on the threads that judge and generate. Before the hooks that wait at shutdown (FinishStartedWork): its
    # threads stop alongside the main worker's.
    broker.add_middleware(
        OwnThreadsForQueue(WEBHOOKS_QUEUE, settings.webhook_threads, grace_ms=settings.shutdown_grace_seconds * 1000)
    )
    return broker


def _broker_for(settings: Settings) -> dramatiq.Broker:
    # The RabbitMQ and Redis clients are imported only for the broker in use: pika and redis-py together cost
    # about half a second of CPU at every start of an embedded `sentinel serve` or a CLI command that needs neither.
    url = settings.resolved_broker_url
    if settings.broker_kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # Publisher confirms: a send returns once RabbitMQ has the message, so a committed change never
        # silently loses the message it implies. Queues are durable and messages persistent (dramatiq's default).
        return RabbitmqBroker(url=with_url_defaults(url, RABBITMQ_URL_DEFAULTS), confirm_delivery=True)
    if url:
        import redis

        from sentinel.worker.wakeup import WakingRedisBroker

        client = redis.Redis.from_url(
            url, socket_timeout=BROKER_SOCKET_TIMEOUT, socket_connect_timeout=BROKER_SOCKET_TIMEOUT
        )
        # Idle consumers wait on a doorbell that every send rings, instead of polling (see sentinel.worker.wakeup).
        return WakingRedisBroker(
            client=client,
            namespace=settings.redis_namespace,
            heartbeat_timeout=settings.redis_heartbeat_timeout_ms,
            maintenance_chance=settings.redis_maintenance_chance,
            idle_poll_ms=settings.worker_idle_poll_ms,
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
    worker = Worker(broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
    worker.start()
    return worker
