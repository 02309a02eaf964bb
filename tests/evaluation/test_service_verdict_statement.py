"""On PostgreSQL, the message that brings every panel judge's vote stores them with the verdict, and the messages
that follow it, in one statement committed alone: what a reader sees is the same as when they took a transaction of
five round trips."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import Row
from sqlmodel import Session, select

from sentinel.evaluation.runner import VoteResult
from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, EvaluationStatus, OutboxMessage
from sentinel.outbox.store import on_commit
from tests.conftest import png_bytes
from tests.evaluation.test_accept_round_trips import statements

pytestmark = pytest.mark.integration


def submitted(service: EvaluationService, callback_url: str | None = None) -> Evaluation:
    submission = service.validate("text-to-image", {}, {"image": png_bytes(300, 300)})
    # Set after validation: the check of a callback's address is not what these tests are about.
    return service.submit(dataclasses.replace(submission, callback_url=callback_url))


def read_row(service: EvaluationService, evaluation_id: str) -> Row[Any]:
    """The evaluation's row as a panel message reads it before judging."""
    with service.services.engine.connect() as connection:
        found = service._read_for_judging(connection, evaluation_id)
    assert found is not None
    return found[0]


def follow_ups(service: EvaluationService, evaluation_id: str) -> list[str]:
    with Session(service.services.engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.actor != "judge_panel"))
        return [row.actor for row in rows if row.args and row.args[1:2] == [evaluation_id]]


def test_a_panel_message_is_one_read_and_one_write_each_committed_alone(service) -> None:
    evaluation = submitted(service)
    with statements(service.services.engine) as judged:
        service.process_panel_message(evaluation.id, evaluation.panel)
    # The read of the evaluation, then its votes, its verdict and what follows in one statement: no BEGIN, no
    # COMMIT, no SELECT ... FOR UPDATE between them.
    assert [(sql.split()[0], autocommit) for sql, autocommit in judged] == [("SELECT", True), ("WITH", True)]

    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE and done.verdict == "green", done.summary
    assert [j["judge"] for j in done.result["judges"]] == [v.judge for v in votes] == list(evaluation.panel)
    assert done.finished_at is not None and done.failed_judges == 0


def test_the_verdict_written_in_one_statement_is_the_one_the_transaction_wrote(service) -> None:
    """The same votes, stored through the usual transaction on one evaluation and in one statement on another,
    give the same answer."""
    one, other = submitted(service), submitted(service)
    votes = [VoteResult(judge, index == 0, f"{judge} says so", [], 1.0, None) for index, judge in enumerate(one.panel)]
    assert service.record_votes(one.id, votes) == set(one.panel)  # the transaction (no row read beforehand)
    assert service.record_votes(other.id, votes, read=read_row(service, other.id)) == set(other.panel)
    (first, _), (second, _) = service.get(one.id), service.get(other.id)
    assert second.status == first.status == EvaluationStatus.DONE
    assert (second.verdict, second.summary, second.failed_judges) == (first.verdict, first.summary, first.failed_judges)
    assert second.result == first.result


def test_a_callback_gets_its_delivery_and_the_relay_is_woken(service) -> None:
    evaluation = submitted(service, callback_url="https://hooks.example/sentinel")
    woken: list[bool] = []
    stop = on_commit(lambda: woken.append(True))
    try:
        service.process_panel_message(evaluation.id, evaluation.panel)
    finally:
        stop()
    assert service.read(evaluation.id)[0].status == EvaluationStatus.DONE
    assert follow_ups(service, evaluation.id) == ["deliver_webhook"]
    assert woken, "the relay waited for its poll to send the delivery"


def test_votes_another_message_stored_meanwhile_still_end_in_a_verdict(service) -> None:
    """A re-sent message stored one judge's vote after this message read the evaluation: this message stores the
    rest, and the evaluation is finalised with every vote."""
    evaluation = submitted(service)
    read = read_row(service, evaluation.id)
    first, *rest = evaluation.panel
    votes = [VoteResult(judge, True, f"{judge} passes", [], 1.0, None) for judge in evaluation.panel]
    assert service.record_votes(evaluation.id, votes[:1]) == {first}
    assert service.read(evaluation.id)[0].status == EvaluationStatus.JUDGING

    assert service.record_votes(evaluation.id, votes, read=read) == set(rest)
    done, stored = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE and done.verdict == "green"
    assert sorted(v.judge for v in stored) == sorted(evaluation.panel)


def test_a_message_delivered_again_after_the_verdict_changes_nothing(service) -> None:
    evaluation = submitted(service)
    read = read_row(service, evaluation.id)
    service.process_panel_message(evaluation.id, evaluation.panel)
    done, votes = service.get(evaluation.id)
    # The second delivery read the evaluation before the first finished (both judged it).
    again = [VoteResult(judge, False, "a different answer", [], 1.0, None) for judge in evaluation.panel]
    assert service.record_votes(evaluation.id, again, read=read) == set()
    after, votes_after = service.get(evaluation.id)
    assert (after.verdict, after.result, after.finished_at) == (done.verdict, done.result, done.finished_at)
    assert [(v.judge, v.passed) for v in votes_after] == [(v.judge, v.passed) for v in votes]
