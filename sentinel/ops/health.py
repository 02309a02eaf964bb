"""Readiness: can this process do its work now? Database, broker and blob store, each within a short timeout.

Every check runs in a daemon thread and is bounded by a timeout, so a dead PostgreSQL or Redis makes the
probe answer "not ready" quickly instead of hanging it; once a few checks of one kind are stuck, the next
probe fails at once rather than pile up threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from sentinel.evaluation.admission import JudgingAdmission
from sentinel.ops import metrics
from sentinel.outbox.relay import backlog
from sentinel.outbox.steps import JUDGING
from sentinel.services import Services
from sentinel.settings import AMQP_SCHEMES, Settings, url_scheme
from sentinel.store.blobs import BlobStoreError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def redact_url(url: str) -> str:
    """A URL fit for a log or a probe's answer: no password."""
    try:
        if url_scheme(url) in AMQP_SCHEMES:
            return ";".join(_redact_netloc(part) for part in url.split(";"))
        if "://" in url and not url.startswith(("redis", "rediss", "unix")):
            return make_url(url).render_as_string(hide_password=True)
        return _redact_netloc(url)
    except Exception:
        return "(unparseable URL)"


def _redact_netloc(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def database_check(engine: Engine) -> str:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    name = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(engine.dialect.name, engine.dialect.name)
    return f"{name} answered SELECT 1"


@lru_cache(maxsize=4)
def _redis(url: str, timeout: float) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def redis_check(url: str, timeout: float) -> str:
    _redis(url, timeout).ping()
    return f"Redis at {redact_url(url)} answered PING"


def amqp_check(url: str, timeout: float) -> str:
    """A fresh AMQP connection, opened and closed: RabbitMQ accepts our credentials for the virtual host."""
    _amqp_connection(url, timeout).close()
    return f"RabbitMQ at {redact_url(url)} accepted a connection"


def _amqp_connection(url: str, timeout: float) -> Any:
    """A new ``pika.BlockingConnection`` to ``url`` (its ``;``-separated hosts in turn), given up within ``timeout``;
    ConnectionError saying why not."""
    import pika

    attempts = []
    for part in url.split(";"):
        parameters = pika.URLParameters(part)
        # However the URL sets them, the probe gives up within its timeout, on one try.
        parameters.socket_timeout = parameters.stack_timeout = parameters.blocked_connection_timeout = timeout
        parameters.connection_attempts = 1
        attempts.append(parameters)
    try:
        connection = pika.BlockingConnection(attempts)
    except pika.exceptions.AMQPConnectionError as exc:
        # pika's own message is often empty; the reason is the exception it wraps (refused, timed out, login).
        raise ConnectionError("; ".join(str(arg) or repr(arg) for arg in exc.args) or repr(exc)) from exc
    return connection


class KeptAmqpConnection:
    """The readiness probe's one AMQP connection, kept between probes: each probe opens and closes a channel on it
    (a round trip RabbitMQ answers only while it serves the connection), and connects again only once it is lost.
    A connection per probe was a TCP and AMQP handshake and a login every few seconds per instance, each one logged
    by RabbitMQ. pika's connections are not for several threads: one probe at a time uses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Any = None
        self._url: str | None = None

    def check(self, url: str, timeout: float) -> str:
        # A probe still stuck on the connection (a broker that stopped answering) leaves it locked: this one fails
        # within its own timeout rather than queue behind it.
        if not self._lock.acquire(timeout=timeout):
            raise ConnectionError("the previous check of the broker is still waiting for its answer")
        try:
            return self._check(url, timeout)
        finally:
            self._lock.release()

    def _check(self, url: str, timeout: float) -> str:
        connection = self._connection
        if connection is not None and self._url == url and connection.is_open:
            try:
                connection.channel().close()
                return f"RabbitMQ at {redact_url(url)} answered on the probe's connection"
            except Exception:
                pass  # lost since the last probe (a broker restart, an idle connection it closed): connect again
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
        self._connection = None
        connection = _amqp_connection(url, timeout)
        self._connection, self._url = connection, url
        return f"RabbitMQ at {redact_url(url)} accepted a connection"


#: The readiness probe's kept connection (see :class:`KeptAmqpConnection`).
PROBE_AMQP = KeptAmqpConnection()


def outbox_check(engine: Engine) -> str:
    waiting, oldest = backlog(engine)
    if not waiting:
        return "no message waiting to be sent"
    return f"{waiting} message(s) waiting to be sent to the broker, the oldest for {oldest:.0f} s"


def blob_check(blobs: Any) -> str:
    root = getattr(blobs, "root", None)
    if root is None:
        blobs.check()
        return f"blob store {blobs.describe()} is writable"
    # A probe file of its own, so probes running at once do not trip over each other's.
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        fd, name = tempfile.mkstemp(dir=root, prefix=".ready-")
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        # Named as the store names it (a full disk is "full", not a stack of errno text); the folder is not named.
        raise BlobStoreError(f"blob store (local folder) cannot be written: {exc.strerror or exc}") from None
    check_space = getattr(blobs, "check_space", None)
    if check_space is not None:
        try:
            check_space()
        except BlobStoreError:
            # The folder is not named: /readyz answers anyone, and a path tells an attacker about the machine.
            raise BlobStoreError("blob store (local folder) is full, nearly full or refused a write") from None
    return "blob store (local folder) is writable"


#: An absolute filesystem path in an error message ('/var/lib/sentinel/blobs', "/tmp/x y"), quoted or not.
ABSOLUTE_PATH = re.compile(r"""'/[^']*'|"/[^"]*"|(?<![\w:/])/[^\s,;:)]+""")


def _without_paths(text: str) -> str:
    """An error line with its filesystem paths hidden (the log has them whole)."""
    return ABSOLUTE_PATH.sub("<path in the log>", text)


#: Checks of one kind still waiting for an answer, at most: past that, a probe fails at once instead of piling up.
MAX_PENDING = 4
_pending: dict[str, threading.BoundedSemaphore] = {}
_pending_lock = threading.Lock()


def _slots(kind: str) -> threading.BoundedSemaphore:
    with _pending_lock:
        return _pending.setdefault(kind, threading.BoundedSemaphore(MAX_PENDING))


async def _bounded(kind: str, probe: Callable[[], str], timeout: float, where: str) -> Check:
    """Run ``probe`` in a daemon thread (a hung one never holds the process up); a failure names ``where`` and why."""
    started = time.perf_counter()
    slots = _slots(kind)
    if not slots.acquire(blocking=False):
        return Check(False, f"{where}: {MAX_PENDING} earlier checks are still waiting for an answer")
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(result: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or "")

    def run() -> None:
        result, error = None, None
        try:
            result = probe()
        except Exception as exc:
            error = exc
        finally:
            slots.release()
        with contextlib.suppress(RuntimeError):  # the loop closed while this check was stuck
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=f"readyz-{kind}", daemon=True).start()
    try:
        detail = await asyncio.wait_for(future, timeout)
    except TimeoutError:
        detail, ok = f"{where}: no answer within {timeout:g} s", False
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        logger.warning("readiness check %s failed: %s", kind, exc)
        reason = _without_paths(lines[0]) if lines else "failed"
        detail, ok = f"{where}: {type(exc).__name__}: {reason}", False
    else:
        ok = True
    return Check(ok, detail, round((time.perf_counter() - started) * 1000, 1))


def _load_client_libraries(settings: Settings) -> None:
    """Imports the broker's and Redis's client libraries the checks use. They are imported on first use (an API on
    the in-process broker never loads them), and here rather than inside a check: the import takes a share of a
    second of CPU, seconds on a loaded machine, and counted against the first probe's deadline it failed a healthy
    broker as "no answer"."""
    if settings.resolved_broker_url and settings.broker_kind == "rabbitmq":
        import pika  # noqa: F401
    if settings.resolved_broker_url or settings.redis_url:
        import redis  # noqa: F401


def judging_check(admission: JudgingAdmission) -> str:
    """The judging queue's backlog; raises while new evaluations are refused for it (a load balancer then sends
    them to another instance rather than to a 503)."""
    backlog = admission.reading()
    if backlog.refusing:
        raise JudgingOverloaded(f"{backlog.describe()}: new evaluations and jobs are refused (503 overloaded)")
    return backlog.describe()


class JudgingOverloaded(Exception):
    """The judging queue is at its limit."""


async def readiness(services: Services, admission: JudgingAdmission | None = None) -> dict[str, Check]:
    """database, broker, blob_store and judging, checked concurrently; with RabbitMQ as the broker and Redis
    configured as well (rate limits, provider cool-downs, long-poll wake-ups shared between processes), redis too.
    ``admission``: the process's (its cached reading of the judging queue); one of its own without."""
    settings = services.settings
    timeout = settings.readiness_timeout_seconds
    await asyncio.to_thread(_load_client_libraries, settings)
    url = settings.resolved_database_url
    # A SQLite URL is a file's path: not shown to whoever asks /readyz.
    database = "SQLite (local file)" if url.startswith("sqlite") else redact_url(url)
    checks = [
        _bounded("database", lambda: database_check(services.engine), timeout, f"database {database}"),
        _bounded("blob_store", lambda: blob_check(services.images.blobs), timeout, "blob store"),
    ]
    broker_url = settings.resolved_broker_url
    if broker_url and settings.broker_kind == "rabbitmq":
        where = f"RabbitMQ at {redact_url(broker_url)}"
        checks.append(_bounded("broker", lambda: PROBE_AMQP.check(broker_url, timeout), timeout, where))
    elif broker_url:
        where = f"Redis at {redact_url(broker_url)}"
        checks.append(_bounded("broker", lambda: redis_check(broker_url, timeout), timeout, where))
    # Redis apart from the broker (a Redis broker is the broker's check): what the processes share through it.
    redis_url = settings.redis_url if settings.broker_kind == "rabbitmq" else None
    if redis_url:
        where = f"Redis at {redact_url(redis_url)} (rate limits, provider cool-downs, long-poll wake-ups)"
        checks.append(_bounded("redis", lambda: redis_check(redis_url, timeout), timeout, where))
    checks.append(_bounded("outbox", lambda: outbox_check(services.engine), timeout, "outbox"))
    gate = admission or JudgingAdmission(settings, lambda: metrics.waiting_messages(JUDGING))
    checks.append(_bounded("judging", lambda: judging_check(gate), timeout, "judging queue"))
    results = await asyncio.gather(*checks)
    broker = results[2] if broker_url else Check(True, "in-process broker (no broker URL configured)")
    # Messages waiting are information, not a failure: they go once the broker is back (its check says why not).
    outbox = results[-2] if results[-2].ok else Check(True, results[-2].detail, results[-2].duration_ms)
    judging = results[-1]
    answer = {"database": results[0], "broker": broker, "blob_store": results[1]}
    if redis_url:
        answer["redis"] = results[3]
    return answer | {"outbox": outbox, "judging": judging}
