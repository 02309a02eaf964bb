"""On PostgreSQL, the votes of a vision-only panel, answered together, go in with their verdict in one statement
committed alone, as an offline panel's do (test_service_verdict_statement.py): in a burst of vision evaluations a
transaction of five round trips per evaluation ran on the worker while the calls of later evaluations were being
sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from sentinel.evaluation import service as evaluation_service
from sentinel.evaluation.service import EvaluationService
from sentinel.models import EvaluationStatus
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import wait_for_started
from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.conftest import own_postgres_database
from tests.evaluation.test_accept_round_trips import statements
from tests.judges.test_vision_judges import GOOD, KEY, vision_judge_file
from tests.judges.test_vision_vote_batching import RUBRIC, api_key

__all__ = ["api_key"]

pytestmark = pytest.mark.integration

JUDGES = ("eye-1", "eye-2", "eye-3")


@pytest.fixture
def model() -> Iterator[tuple[str, VisionScript]]:
    script = VisionScript(api_key=KEY)
    with ExitStack() as stack:
        yield stack.enter_context(serve(chat.create_app(script))).url, script


@pytest.fixture
def service(tmp_path: Path, model: tuple[str, VisionScript]) -> Iterator[EvaluationService]:
    """Three vision judges on one model, the evaluations on a PostgreSQL database of their own."""
    url, _ = model
    folder, rubrics = tmp_path / "judges", tmp_path / "rubrics"
    folder.mkdir()
    rubrics.mkdir()
    for name in JUDGES:
        vision_judge_file(folder, name, url, timeout_seconds=20)
    (rubrics / "vision-only.yaml").write_text(RUBRIC)
    with own_postgres_database() as database:
        settings = Settings(  # type: ignore[call-arg]
            data_dir=tmp_path / "data", judges_dir=str(folder), rubrics_dir=rubrics, database_url=database
        )
        built = EvaluationService(build_services(settings))
        yield built
        built.services.engine.dispose()


def test_a_vision_panel_answering_together_is_one_read_and_one_write(service, model, monkeypatch) -> None:
    _, script = model
    # A window far longer than any stall of a loaded machine: the last answer stores the three votes together.
    monkeypatch.setattr(evaluation_service, "GATHER_VOTES_SECONDS", 60.0)
    evaluation = service.submit(service.validate("vision-only", {}, {"image": GOOD}))
    with statements(service.services.engine) as judged:
        service.process_panel_message(evaluation.id, evaluation.panel)
        assert wait_for_started(60) == 0
    # The message's read of the evaluation, then the votes, the verdict and what follows it in one statement: no
    # BEGIN, no SELECT ... FOR UPDATE, no COMMIT.
    assert [(sql.split()[0], autocommit) for sql, autocommit in judged] == [("SELECT", True), ("WITH", True)]
    assert script.received == len(JUDGES)

    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE and done.verdict == "green", done.summary
    assert sorted(v.judge for v in votes) == sorted(j["judge"] for j in done.result["judges"]) == list(JUDGES)
    assert all(v.passed for v in votes) and done.failed_judges == 0 and done.finished_at is not None
