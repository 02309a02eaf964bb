"""The evaluation sweep runs every few seconds in some worker process: its reads take no transaction, whose
ROLLBACK made psycopg forget the prepared statements of the pooled connection it ran on."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import png_bytes
from tests.support.prepared import one_connection_with_a_prepared_statement, prepared

pytestmark = pytest.mark.integration


def test_a_sweep_reads_outside_a_transaction_and_keeps_prepared_statements(service) -> None:
    engine = service.services.engine
    service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    # The sweep runs on the pooled connection whose statement is prepared.
    one_connection_with_a_prepared_statement(engine)
    seen: list[bool] = []

    def note(conn, _cursor, _statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(bool(conn.connection.dbapi_connection.autocommit))

    event.listen(engine, "before_cursor_execute", note)
    try:
        assert service.sweep(stalled_after_seconds=3600) == {"resent": 0, "finalised": 0}
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen and all(seen)
    with engine.connect() as connection:
        # Still prepared: no ROLLBACK made psycopg deallocate them.
        assert prepared(connection) > 0
