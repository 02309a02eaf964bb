"""PostgreSQL databases of a test's own, made cheaply: copied from a template migrated once per test process, and
dropped behind the test's back.

Migrating a new database runs every revision (about a second on a busy machine), and PostgreSQL's DROP DATABASE
waits for a checkpoint (one to five seconds when other processes write): paid in every test's set-up and teardown,
they were a large share of the suite's time. A copy of a migrated template is at the newest revision already, and a
thread of the test process drops the finished databases while the next tests run; the session waits for it at the
end, so nothing is left behind."""

from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from collections.abc import Iterator

import psycopg
from sqlalchemy.engine import make_url


class ScratchDatabases:
    """Per test process: one migrated template (made when first needed) and one thread dropping used databases."""

    def __init__(self, admin_url: str) -> None:
        given = make_url(admin_url)
        self._admin = given.set(drivername="postgresql").render_as_string(hide_password=False)
        self._given = given
        self._template: str | None = None
        self._lock = threading.Lock()
        self._to_drop: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None
        self._drop_errors: list[str] = []

    @contextlib.contextmanager
    def database(self, *, migrated: bool = True) -> Iterator[str]:
        """A database of our own (its URL in the admin URL's spelling): at the newest revision when ``migrated``,
        empty otherwise; dropped after the block (its connections cut first)."""
        name = f"sentinel_scratch_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self._migrated_template()}"' if migrated else ""
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        try:
            yield self._given.set(database=name).render_as_string(hide_password=False)
        finally:
            self._drop_later(name)

    @property
    def template(self) -> str | None:
        """The migrated template's name, once made (until ``finish``)."""
        return self._template

    def finish(self) -> list[str]:
        """Drop the template and every database still queued, and wait for it; returns what could not be dropped."""
        with self._lock:
            if self._template is not None:
                self._to_drop.put(self._template)
                self._template = None
            if self._dropper is not None:
                self._to_drop.put(None)
                self._dropper.join()
                self._dropper = None
        return self._drop_errors

    def _migrated_template(self) -> str:
        with self._lock:
            if self._template is None:
                self._template = self._make_template()
            return self._template

    def _make_template(self) -> str:
        # Imported here: the test process pays for Alembic only when a test needs PostgreSQL.
        from sentinel.db import build_engine
        from sentinel.db.migrate import upgrade_engine

        name = f"sentinel_template_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        engine = build_engine(self._given.set(database=name).render_as_string(hide_password=False))
        try:
            upgrade_engine(engine)
        finally:
            engine.dispose()
        # Copying refuses a template anyone is connected to: closed to connections, not even autovacuum enters it.
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        return name

    def _drop_later(self, name: str) -> None:
        with self._lock:
            if self._dropper is None:
                self._dropper = threading.Thread(target=self._drop_queued, name="scratch-database-dropper", daemon=True)
                self._dropper.start()
        self._to_drop.put(name)

    def _drop_queued(self) -> None:
        while (name := self._to_drop.get()) is not None:
            try:
                self._drop(name)
            except psycopg.Error as exc:
                self._drop_errors.append(f"{name}: {exc}")

    def _drop(self, name: str) -> None:
        with psycopg.connect(self._admin, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                # A fault test may have closed it to new connections to cut a server off.
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
