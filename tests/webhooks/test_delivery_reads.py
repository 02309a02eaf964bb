"""A webhook's delivery reads the job or evaluation it sends without a transaction: a read-only one ended in
ROLLBACK, at which psycopg forgot the prepared statements of the pooled connection it ran on (and every statement
after it on that connection was parsed and planned afresh)."""

from __future__ import annotations

import pytest

from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService
from sentinel.services import Services
from sentinel.webhooks.service import WebhookService
from tests.conftest import png_bytes
from tests.support.prepared import one_connection_with_a_prepared_statement, prepared

pytestmark = pytest.mark.integration


def test_a_delivery_reads_what_it_sends_and_keeps_the_prepared_statements(pg_services: Services) -> None:
    services = pg_services
    evaluations = EvaluationService(services)
    webhooks = WebhookService(services, evaluations, JobService(services, lambda: None))  # type: ignore[arg-type,return-value]
    evaluation = evaluations.submit(evaluations.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    engine = services.engine
    # The delivery's reads run on the pooled connection whose statement is prepared.
    one_connection_with_a_prepared_statement(engine)
    # Without a callback_url it reads the evaluation and sends nothing: the reads are what is tested.
    webhooks.deliver_event("evaluation", evaluation.id, "finished", "dlv_reads")
    with engine.connect() as connection:
        assert prepared(connection) > 0
