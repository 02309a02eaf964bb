"""How many messages a dramatiq queue holds, by state, read from the broker (Redis, RabbitMQ or the in-process one).

It lives beside the evaluations because admitting a new one reads the judging queue's depth on the request path
(:mod:`sentinel.evaluation.admission`); ``/metrics`` (:mod:`sentinel.ops.metrics`) reads every queue through it.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis


def waiting_messages(broker: Any, queue: str) -> int:
    """Messages of ``queue`` that no worker has taken yet (ready, or delayed for a retry)."""
    return int(sum(value for _, state, value in queue_depths(broker, [queue]) if state in ("ready", "delayed")))


def queue_depths(broker: Any, names: list[str]) -> list[tuple[str, str, float]]:
    """The messages of each queue of ``names`` by state."""
    if _is_a(broker, "dramatiq.brokers.redis", "RedisBroker"):
        return _redis_depths(_redis_client(broker.client.connection_pool), broker.namespace, names)
    if _is_a(broker, "dramatiq.brokers.rabbitmq", "RabbitmqBroker"):
        return rabbitmq_depths(broker, names)
    return _stub_depths(broker, names)


def _is_a(broker: Any, module: str, name: str) -> bool:
    """``isinstance(broker, module.name)`` without importing the module: a broker of that class exists only once its
    module was imported, and importing dramatiq's Redis or RabbitMQ broker loads its client library (redis-py, pika),
    which an API process on the in-process broker never needs."""
    found = sys.modules.get(module)
    return found is not None and isinstance(broker, getattr(found, name))


def rabbitmq_depths(broker: Any, names: list[str]) -> list[tuple[str, str, float]]:
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
def _redis_client(pool: redis.ConnectionPool) -> redis.Redis:
    """A client to the broker's own Redis (the one its connections go to, whatever the settings say now) that
    gives up within a second: the API asks on its request path, the broker's client waits 10 s for a send."""
    import redis

    kwargs = pool.connection_kwargs | {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def _redis_depths(client: redis.Redis, namespace: str, names: list[str]) -> list[tuple[str, str, float]]:
    # The layout of dramatiq's RedisBroker: a list of ready ids per queue, a hash of every message not yet
    # acknowledged, and the same for the delay queue (.DQ) and the dead letters (.XQ).
    pipe = client.pipeline(transaction=False)
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
