"""Structured logs and the request id that follows a piece of work from the HTTP request through the workers.

The API takes a caller's ``X-Request-Id`` (or makes one), answers with it, and every log line written while
serving that request carries it. A message sent to the workers then carries it too (in its options), so
the worker's log lines about a job or an evaluation name the request that created it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections import OrderedDict
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import dramatiq

#: The request id of the work this thread or task is doing; None outside any request or message.
request_id: ContextVar[str | None] = ContextVar("sentinel_request_id", default=None)

#: The HTTP header a caller may set, and which every response carries.
HEADER = "x-request-id"
#: A caller's id is taken as it is when it looks like one; anything else is replaced by a fresh id.
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

#: What a formatter prints as the line itself; everything else a record carries beyond these is an "extra".
_STANDARD = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
        "message",
        "asctime",
        "request_id",
        "color_message",  # uvicorn's coloured copy of the message
        "taskName",
    }
)

TEXT_FORMAT = "%(levelname)-9s %(name)s: %(message)s"


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's id when it is safe to log and echo, else a new one."""
    if value and _VALID.match(value):
        return value
    return new_request_id()


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then any extras."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual one-line format, with ``[request_id]`` at the end when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None) or request_id.get()
        if not rid:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{rid}]{newline}{rest}"


def formatter_for(fmt: str, text_format: str = TEXT_FORMAT) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter(text_format)


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Root logging for ``sentinel serve``: one stderr handler in ``fmt`` (``text`` or ``json``).

    uvicorn's own loggers are left to propagate here (run uvicorn with ``log_config=None``).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(fmt))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    quiet_libraries(level)


#: Libraries whose INFO lines are noise: httpx logs every provider call (a second line per generation, beside the
#: access line and the call log, and a log record's CPU on every request); pika about a dozen per AMQP connection
#: opened and closed (every /readyz and /metrics with RabbitMQ: ~400k lines a day per API pod). Their warnings show.
QUIET_LIBRARIES = ("httpx", "pika", "alembic.runtime.plugins")


class _AlembicSetupLines(logging.Filter):
    """Alembic's two lines on opening a migration context ("Context impl PostgresqlImpl.", "Will assume
    transactional DDL."), which every API and worker process printed at start whether or not a migration ran. Its
    "Running upgrade ..." lines, a real change to the schema, still show."""

    SETUP = ("Context impl ", "Will assume ")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.SETUP))


#: The dramatiq logger that reports a message's failed try, with the traceback.
DRAMATIQ_FAILURES = "dramatiq.worker.WorkerThread"
#: Messages a process remembers having named as failing on an unreachable database (one line each, not one per try).
_REMEMBERED_MESSAGES = 1024


class _DatabaseUnreachable(logging.Filter):
    """A message whose try failed because the database is unreachable (a restart, a cut, a stall past
    SENTINEL_DATABASE_TIMEOUT_SECONDS) is one warning naming that, the first time in this process, as the outbox
    relay says it; not a full SQLAlchemy traceback on every try of every message (54 of them for one 25 s cut).
    dramatiq retries the message as before. Other failures keep their traceback."""

    def __init__(self) -> None:
        super().__init__()
        self._told: OrderedDict[str, None] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        failure = record.exc_info[1] if record.exc_info else None
        # Looked up, not imported: a process that never opened a database (``sentinel eval``) never loads SQLAlchemy.
        errors = sys.modules.get("sqlalchemy.exc")
        if failure is None or errors is None or not isinstance(failure, errors.OperationalError | errors.TimeoutError):
            return True
        message = record.args[0] if isinstance(record.args, tuple) and record.args else None
        message_id = str(getattr(message, "message_id", "") or "")
        if message_id in self._told:
            return False
        self._told[message_id] = None
        if len(self._told) > _REMEMBERED_MESSAGES:
            self._told.popitem(last=False)
        reason = type(getattr(failure, "orig", None) or failure).__name__
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "message %s (%s): database unreachable (%s); dramatiq tries it again later"
        record.args = (message_id, getattr(message, "actor_name", "?"), reason)
        record.exc_info, record.exc_text = None, None
        return True


def quiet_libraries(level: int = logging.INFO) -> None:
    """:data:`QUIET_LIBRARIES` at WARNING (or ``level``, when higher); one set quieter still (dramatiq's worker
    processes set pika at CRITICAL) stays so. Alembic's setup lines are left out too (:class:`_AlembicSetupLines`)."""
    for name in QUIET_LIBRARIES:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, level, logging.WARNING))
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _AlembicSetupLines) for f in migration.filters):
        migration.addFilter(_AlembicSetupLines())
    failures = logging.getLogger(DRAMATIQ_FAILURES)
    if not any(isinstance(f, _DatabaseUnreachable) for f in failures.filters):
        failures.addFilter(_DatabaseUnreachable())


def log_to_stderr(name: str, fmt: str = "text", level: int = logging.INFO) -> None:
    """Show one library's logs (e.g. alembic's steps) on stderr without touching the root logger."""
    logger = logging.getLogger(name)
    if any(getattr(handler, "_sentinel", False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(fmt))
    handler.addFilter(RequestIdFilter())
    handler._sentinel = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def reformat_handlers(fmt: str) -> None:
    """Keep the root handlers a process already has (dramatiq's pipe to its parent) but write ``fmt`` to them."""
    root = logging.getLogger()
    for handler in root.handlers:
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
        else:
            base = handler.formatter._fmt if handler.formatter is not None else None
            handler.setFormatter(TextFormatter(base or TEXT_FORMAT))
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


class RequestIdMessages(dramatiq.Middleware):
    """Carries the request id from whoever enqueues a message to the worker that processes it.

    In the worker, each process also writes its logs in ``SENTINEL_LOG_FORMAT`` once it has booted.
    """

    def __init__(self, log_format: str = "text") -> None:
        self.log_format = log_format

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: int | None) -> None:
        rid = request_id.get()
        if rid and "request_id" not in message.options:
            message.options["request_id"] = rid

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        request_id.set(message.options.get("request_id"))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        request_id.set(None)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        request_id.set(None)

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        # A `dramatiq` worker process: its CLI has set logging up (a pipe to the parent); keep it, reformat it.
        reformat_handlers(self.log_format)
        quiet_libraries()
