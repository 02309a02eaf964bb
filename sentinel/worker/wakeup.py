"""dramatiq's Redis broker, with idle consumers that wait for a message instead of polling for one.

dramatiq's Redis consumer (one thread per queue and per delay queue) runs its fetch script again and again
while its queue is empty, backing off up to the worker timeout: at Sentinel's old 100 ms, six consumers per
worker process cost that process tens of milliseconds of CPU every second of idle, and a longer poll made
every hop of an evaluation after a quiet spell wait for it.

Here every send that makes a message ready (``enqueue``, a delayed message moved to its queue when due, the
messages a stopping worker puts back) also pushes a token onto the queue's *doorbell*, a Redis list capped at
one token, in the same round trip. A consumer whose fetch comes back empty blocks on its doorbell (``BLPOP``)
for at most the idle poll, then fetches again whether or not it was woken. So:

- a message sent to an idle worker is fetched at once, by whichever waiting consumer Redis hands the token to;
- a token pushed while nobody waits stays for the next consumer that does, and a consumer only waits after a
  fetch found its queue empty, so a message is never left behind by a race between fetch and wait;
- a consumer that fetched as many messages as it asked for (more may be waiting) rings the doorbell again,
  waking the next consumer, so a burst spreads over every process;
- a wake-up that is lost anyway (a Redis restart, a process killed holding a token) delays a message by at
  most the idle poll, which also keeps the heartbeat fresh (it is capped at a third of the heartbeat timeout)
  and runs dramatiq's maintenance (dead workers' messages back on their queue) about as often per idle second
  as the old 100 ms poll did;
- the delay-queue consumer holds fetched messages until their eta: it waits for its doorbell only until the
  earliest of them is due;
- a stopping worker wakes its own consumers through a key of its own, then polls as dramatiq does until its
  consumer threads have stopped, so stopping is not held up by a wait.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import weakref
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.worker import ConsumerThread

#: The poll Sentinel's workers used before the doorbells: fallback polls keep its maintenance rate per idle second.
FORMER_IDLE_POLL_MS = 100
#: A doorbell is worth one wake-up: a consumer woken by it that finds more than it asked for rings it again.
#: More tokens would only be spare wake-ups for consumers that then find their queue empty.
DOORBELL_TOKENS = 1
#: A token only matters for the moment between a consumer's empty fetch and its wait; an unused one expires.
DOORBELL_TTL_MS = 60_000
#: Waits shorter than this (a delayed message about due) sleep in the process: Redis times a blocked command
#: out only at its next event-loop turn, up to tens of milliseconds late.
LOCAL_SLEEP_SECONDS = 0.05

#: Older dramatiq releases acknowledge messages on the consumer thread between two fetches, not on the worker
#: thread that ran them: there, a consumer with messages in flight must not wait longer than the worker timeout.
ACKS_ON_CONSUMER_THREAD = hasattr(ConsumerThread, "handle_acks")

logger = logging.getLogger(__name__)


class WakingRedisBroker(RedisBroker):
    """A :class:`RedisBroker` whose idle consumers block on a per-queue doorbell instead of polling.

    ``idle_poll_ms`` is the longest an idle consumer waits before it fetches again without being woken.
    """

    def __init__(self, *, idle_poll_ms: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The heartbeat is refreshed by every fetch: an idle process must fetch well within the heartbeat
        # timeout, or the others' maintenance would take its unacknowledged messages back.
        self.idle_wait_ms = max(1, min(idle_poll_ms, self.heartbeat_timeout // 3))
        self.idle_maintenance_chance = min(
            MAINTENANCE_SCALE, self.maintenance_chance * max(1, self.idle_wait_ms // FORMER_IDLE_POLL_MS)
        )
        self.wait_client = _client_for_waits(self.client, self.idle_wait_ms / 1000)
        self.stopping = threading.Event()
        self.consumers: weakref.WeakSet[WakingConsumer] = weakref.WeakSet()
        self.add_middleware(_WakeConsumersOnShutdown())

    @property
    def consumer_class(self) -> type[WakingConsumer]:
        return WakingConsumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> WakingConsumer:
        consumer = WakingConsumer(self, queue_name, prefetch, timeout)
        self.consumers.add(consumer)
        return consumer

    def doorbell_key(self, queue_name: str) -> str:
        return f"{self.namespace}:__doorbells__.{queue_name}"

    @property
    def stopping_key(self) -> str:
        """This process's own doorbell, rung when its worker stops (dramatiq's keys use the same ``__x__.`` form)."""
        return f"{self.namespace}:__stopping__.{self.broker_id}"

    def _dispatch_args(self, command: str, queue_name: str, *args: Any, maintenance: bool | None = None) -> list[Any]:
        """The arguments of dramatiq's dispatch script (``dramatiq/brokers/redis/dispatch.lua``), as its
        ``_dispatch`` builds them; ``maintenance`` overrides its dice roll."""
        do_maintenance = self._should_do_maintenance(command) if maintenance is None else int(maintenance)
        return [
            command,
            current_millis(),
            queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            do_maintenance,
            self._max_unpack_size(),
            *args,
        ]

    def _ring_on(self, pipe: Any, queue_name: str) -> None:
        key = self.doorbell_key(queue_name)
        pipe.lpush(key, 1)
        pipe.ltrim(key, 0, DOORBELL_TOKENS - 1)
        pipe.pexpire(key, DOORBELL_TTL_MS)

    def _dispatch_and_ring(self, command: str, queue_name: str, *args: Any) -> None:
        """The command and the doorbell in one round trip, the token after the message."""
        script = self.scripts["dispatch"]
        for attempt in (1, 2):
            pipe = self.client.pipeline(transaction=False)
            pipe.evalsha(script.sha, 1, self.namespace, *self._dispatch_args(command, queue_name, *args))
            self._ring_on(pipe, queue_name)
            try:
                pipe.execute()
                return
            except redis.exceptions.NoScriptError:
                # A Redis that restarted (or was flushed) forgot the script; the ring that ran is harmless.
                if attempt == 2:
                    raise
                self.client.script_load(script.script)

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        self._dispatch_and_ring("enqueue", queue_name, message_id, data)

    def do_requeue(self, queue_name: str, *message_ids: str) -> None:
        self._dispatch_and_ring("requeue", queue_name, *message_ids)

    def ring(self, queue_name: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        self._ring_on(pipe, queue_name)
        pipe.execute()

    def fetch(self, queue_name: str, count: int, *, fallback_poll: bool) -> list[bytes | None]:
        """Up to ``count`` messages; a ``fallback_poll`` (no wake-up came) also does dramatiq's maintenance at
        the rate that keeps its frequency per idle second."""
        maintenance = None
        if fallback_poll:
            maintenance = self._roll(self.idle_maintenance_chance)
        args = self._dispatch_args("fetch", queue_name, count, maintenance=maintenance)
        return self.scripts["dispatch"](args=args, keys=[self.namespace])

    @staticmethod
    def _roll(chance: int) -> bool:
        return random.randint(1, MAINTENANCE_SCALE) <= chance

    def wait_for_doorbell(self, queue_name: str, timeout_seconds: float) -> bool:
        """Block until the queue's doorbell (or this process's stopping key) rings, at most ``timeout_seconds``;
        whether it rang."""
        keys = [self.doorbell_key(queue_name), self.stopping_key]
        return self.wait_client.blpop(keys, timeout=max(timeout_seconds, 0.01)) is not None

    def wake_own_consumers(self) -> None:
        """Stop this process's consumers from waiting: they poll (at the worker timeout) until they stop."""
        self.stopping.set()
        for consumer in list(self.consumers):
            consumer.capacity_freed.set()  # a full consumer waits for an acknowledgement instead
        # One token per consumer thread of this process: one per queue and one per delay queue.
        consumers = 2 * len(self.queues) or 1
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(self.stopping_key, *([1] * consumers))
        pipe.pexpire(self.stopping_key, DOORBELL_TTL_MS)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            # Their waits end on their own within the idle poll (or with the connection's error).
            logger.warning("could not wake the waiting consumers to stop: %s", exc)


class WakingConsumer(_RedisConsumer):
    """dramatiq's Redis consumer, waiting on its queue's doorbell when a fetch comes back empty."""

    broker: WakingRedisBroker

    def __init__(self, broker: WakingRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self.is_delay_queue = queue_name.endswith(".DQ")  # dramatiq's dq_name, as its dispatch script tests it
        # When each fetched-but-unacknowledged delayed message is due: the consumer thread moves it then.
        self.etas: dict[str, float] = {}
        self.etas_lock = threading.Lock()
        self.capacity_freed = threading.Event()
        self.fallback_poll_due = False
        #: Whether the last fetch took fewer messages than it asked for: the queue was empty then, as after an empty
        #: fetch, so once those are handed out the consumer waits for its doorbell without fetching again (a message
        #: sent since rang it). That second fetch was a round trip, and a script run on Redis, per message.
        self.drained = False

    def ack(self, message: MessageProxy) -> None:
        try:
            super().ack(message)
        finally:
            self._settled(message)

    def nack(self, message: MessageProxy) -> None:
        try:
            super().nack(message)
        finally:
            self._settled(message)

    def _settled(self, message: MessageProxy) -> None:
        with self.etas_lock:
            self.etas.pop(message.message_id, None)
        self.capacity_freed.set()

    def _seconds_until_due(self) -> float | None:
        with self.etas_lock:
            if not self.etas:
                return None
            earliest = min(self.etas.values())
        return (earliest - current_millis()) / 1000

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # an id whose message is gone (dramatiq logs it as #266 and skips it)
                        self.logger.warning("Found 'None' message in message cache for queue %r.", self.queue_name)
                        continue
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    if self.is_delay_queue:
                        eta = message.options.get("eta")
                        with self.etas_lock:
                            self.etas[message.message_id] = eta if isinstance(eta, int | float) else 0
                    return MessageProxy(message)

                idle_wait = wait = self.broker.idle_wait_ms / 1000
                due_in = self._seconds_until_due()
                if due_in is not None:
                    if due_in <= LOCAL_SLEEP_SECONDS:
                        time.sleep(max(0.0, due_in))
                        return None  # the consumer thread moves what is due
                    wait = min(wait, due_in)
                # Read once: a stop that comes later rings this process's stopping key, which a wait below hears.
                stopping = self.broker.stopping.is_set()
                if stopping or (ACKS_ON_CONSUMER_THREAD and self.queued_message_ids):
                    # Polling as dramatiq does (at the worker timeout), so the consumer thread soon sees that it must
                    # stop, or acknowledges what its worker threads have finished.
                    wait = min(wait, self.timeout / 1000)

                self.capacity_freed.clear()
                room = self.prefetch - self.outstanding_message_count
                if room <= 0:
                    # A full consumer waits for an acknowledgement, not the doorbell: a token taken here would be
                    # one another process's consumer needed.
                    self.capacity_freed.wait(wait)
                    return None

                if not self.drained:
                    messages = self.broker.fetch(self.queue_name, room, fallback_poll=self.fallback_poll_due)
                    self.fallback_poll_due = False
                    if messages:
                        self.message_cache = messages
                        self.drained = len(messages) < room
                        if not self.drained:
                            self.broker.ring(self.queue_name)  # more may be waiting: wake another consumer
                        continue
                # The queue was found empty (by this fetch or the last one): wait, then fetch again.
                self.drained = False

                if stopping:
                    time.sleep(wait)
                else:
                    rang = self.broker.wait_for_doorbell(self.queue_name, wait)
                    # A whole idle poll without a wake-up: the next fetch does the skipped polls' maintenance.
                    self.fallback_poll_due = not rang and wait >= idle_wait
                return None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise ConnectionClosed(exc) from None


class _WakeConsumersOnShutdown(dramatiq.Middleware):
    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if isinstance(broker, WakingRedisBroker):
            broker.stopping.clear()
            with contextlib.suppress(redis.RedisError):  # a broker that is away: the consumers will say so
                broker.client.delete(broker.stopping_key)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if isinstance(broker, WakingRedisBroker):
            broker.wake_own_consumers()


def _client_for_waits(client: redis.Redis, longest_wait_seconds: float) -> redis.Redis:
    """A client like ``client`` whose reads may block ``longest_wait_seconds`` longer than its socket timeout
    (a BLPOP's answer comes only when it ends)."""
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    if kwargs.get("socket_timeout") is not None:
        kwargs["socket_timeout"] = kwargs["socket_timeout"] + longest_wait_seconds
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))
