"""Database engine and sessions: SQLite by default, PostgreSQL when configured."""

from __future__ import annotations

import math
import select
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from sentinel import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from sentinel.db.outages import watch_outages
from sentinel.errors import ConfigError
from sentinel.keyfiles import private_file, private_folder
from sentinel.settings import Settings

#: SQLite's ``synchronous`` level. In WAL mode, NORMAL commits without an fsync: a crash of the process loses no
#: commit, a power loss may take back the last ones. The folder blob store matches it (``commits_reach_disk``).
SQLITE_SYNCHRONOUS = "NORMAL"


def commits_reach_disk(url: str) -> bool:
    """Whether a commit to the database at ``url`` is on disk when it returns, so it survives a power loss:
    PostgreSQL's are (``fsync`` and ``synchronous_commit`` are on by default); SQLite's at FULL or EXTRA only."""
    if url.startswith("sqlite"):
        return SQLITE_SYNCHRONOUS in ("FULL", "EXTRA")
    return True


#: TCP keepalives on every PostgreSQL connection (libpq's names, seconds): an idle pooled connection whose peer
#: vanished (a partition, a host gone without a reset) is found dead in about a minute, not after the kernel's
#: two hours. ``tcp_user_timeout`` (ms) does the same for one whose sent data goes unacknowledged.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def build_engine(url: str, timeout_seconds: float | None = None) -> Engine:
    """An engine for ``url``. With ``timeout_seconds`` (PostgreSQL), a new connection and a wait for a pooled one
    give up after that long; :func:`bound_statements` then bounds each statement the same way."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets the API read while worker threads write.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # JSON columns (an evaluation's rubric is ~6 KB of it) written and read with orjson: the standard library's
    # json took ~90 us to write a rubric and ~60 us to read it, on every new evaluation and every worker's read.
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeout_seconds if timeout_seconds is not None else 30,
        connect_args=_connect_args(url, timeout_seconds),
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
    )
    event.listen(engine, "do_connect", _bounded_connect)
    # Instead of pool_pre_ping: a ping is a round trip (and a transaction on the server) for every checkout, ~10
    # per evaluation. A connection the server closed (a restart, pg_terminate_backend) has its FATAL message or
    # its end of stream waiting on the socket, which a zero-timeout poll sees without asking the server.
    event.listen(engine, "checkout", _refuse_closed_connection)
    event.listen(engine, "connect", _in_utc)
    # Connection errors noted, to explain afterwards what could not happen meanwhile (see sentinel.db.outages).
    watch_outages(engine)
    return engine


def _connect_args(url: str, timeout_seconds: float | None) -> dict[str, Any]:
    """libpq's connection parameters for a stalled or vanished server, except those the URL sets itself."""
    wanted: dict[str, Any] = dict(PG_KEEPALIVES)
    if timeout_seconds is not None:
        # libpq takes whole seconds and treats 1 as 2.
        wanted["connect_timeout"] = max(2, math.ceil(timeout_seconds))
        wanted["tcp_user_timeout"] = math.ceil(timeout_seconds * 1000)
    given = make_url(url).query
    return {name: value for name, value in wanted.items() if name not in given}


def _bounded_connect(_dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
    # Imported here, not at the top: psycopg costs ~0.3 s of CPU to import, paid only by a process that connects to
    # PostgreSQL (a SQLite `sentinel serve` and most CLI commands never do).
    from sentinel.db.bounded import BoundedConnection

    return BoundedConnection.connect(*cargs, **cparams)


def bound_statements(engine: Engine, seconds: float) -> None:
    """From now on, each round trip to the server on ``engine``'s connections waits at most ``seconds``."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", partial(_set_answer_timeout, seconds))


def _set_answer_timeout(seconds: float, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    dbapi_connection.answer_timeout = seconds


def _json_text(value: Any) -> str:
    """A JSON column's value as text, as json.dumps writes it for every value a column holds (keys that are not
    strings, e.g. a score by int, become strings; NumPy numbers, which a judge's measure may hand on, are the
    numbers they hold)."""
    return orjson.dumps(
        value, default=_plain_number, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    ).decode()


def _plain_number(value: Any) -> Any:
    """A number orjson does not take as it comes (a subclass of int or float, which json.dumps writes as its value)."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _in_utc(dbapi_connection: Any, _record: Any) -> None:
    """Connect hook: every session reads times in UTC. A database whose TimeZone is local (managed ones often are)
    would hand every stored instant back in its zone: the same field of the same row then reads
    ``…T21:36+00:00`` when answered from memory and ``…T11:36+14:00`` (another calendar day) when read back. A SET
    rather than the ``options`` startup parameter, which connection poolers such as PgBouncer refuse."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
    finally:
        dbapi_connection.autocommit = autocommit


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Checkout hook: a pooled connection the server has closed (or that has anything unread: an idle connection
    is sent nothing) is replaced by a new one, as pool_pre_ping would, without a round trip."""
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        raise DisconnectionError("the pooled connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server closed the pooled connection (or sent it something unasked)")


_autocommit_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def autocommit(engine: Engine) -> Engine:
    """``engine`` (same pool) with each statement committed on its own: for a read of one statement, or a write
    that is one statement, a transaction's BEGIN and COMMIT (or ROLLBACK) are two round trips that buy nothing."""
    found = _autocommit_engines.get(engine)
    if found is None:
        found = _autocommit_engines[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


def dialect_insert(bind: Engine | Connection) -> Callable[..., Any]:
    """The INSERT construct with ON CONFLICT for the database behind ``bind`` (PostgreSQL or SQLite)."""
    return insert_for(bind.dialect.name)


def insert_for(dialect: str) -> Callable[..., Any]:
    """:func:`dialect_insert` by the dialect's name (statements built once per database kind and cached)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def insert_unless_present(session: Session, model: type[SQLModel], values: dict[str, Any], key: list[str]) -> bool:
    """INSERT … ON CONFLICT (key) DO NOTHING; True when this call inserted the row.

    The database's unique constraint, not a read-then-write, decides who wins a race.
    """
    insert = dialect_insert(session.get_bind())
    columns = [getattr(model, name) for name in key]
    # RETURNING, not rowcount: psycopg reports no reliable rowcount for an ORM-enabled INSERT.
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=key).returning(*columns)
    return session.execute(statement).first() is not None


def private_sqlite_file(url: str) -> None:
    """A SQLite database file that does not exist yet made readable by this user only (0600): it holds every
    tenant's rows (prompts, callback URLs, the provider call log), as private as the keys beside it."""
    database = url.removeprefix("sqlite:///").split("?", 1)[0]
    if url.startswith("sqlite:///") and database and database != ":memory:" and Path(database).parent.is_dir():
        private_file(Path(database))


def engine_for(settings: Settings) -> Engine:
    """An engine for the configured database (SQLite or PostgreSQL), upgraded to the newest migration first."""
    # Imported here, not at the top: Alembic costs ~80 ms to import, paid only by a process that opens the
    # database (``sentinel eval`` and the rest of the CLI import this package without needing it).
    from sentinel.db.migrate import upgrade_engine

    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        private_folder(settings.data_dir)
        private_sqlite_file(url)
    engine = build_engine(url, settings.database_timeout_seconds)
    try:
        upgrade_engine(engine)
    except OperationalError as exc:
        engine.dispose()
        if not url.startswith("sqlite"):
            # Named in one line (the URL without its password), not as a driver's traceback.
            shown = make_url(url).render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
            raise ConfigError(f"SENTINEL_DATABASE_URL {shown}: cannot use the database ({reason})") from None
        # A read-only volume (readOnlyRootFilesystem, a mount with ro) holding the database: named, not a traceback.
        database = url.removeprefix("sqlite:///")
        reason = getattr(exc.orig, "args", [str(exc)])[0]
        raise ConfigError(
            f"{database}: SQLite cannot open or write the database ({reason}); "
            "SENTINEL_DATA_DIR must be a writable folder"
        ) from None
    except BaseException:
        engine.dispose()
        raise
    # After the migrations, which may rightly take longer than any request should wait.
    bound_statements(engine, settings.database_timeout_seconds)
    return engine
