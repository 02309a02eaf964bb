"""One message per evaluation: the whole panel is asked at once, its offline judges share one decode of the image,
and a message delivered again writes nothing new."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, EvaluationStatus, OutboxMessage
from sentinel.settings import Settings
from sentinel.store.images import decoded_pixels
from sentinel.wiring import build_services
from tests.conftest import png_bytes


def panel_messages(service: EvaluationService) -> list[tuple[str, list[str]]]:
    """Every judge message written to the outbox, of either shape: (evaluation id, the judges it asks)."""
    with Session(service.services.engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        found = []
        for row in rows:
            if row.actor == "judge_panel":
                found.append((row.args[0], sorted(row.args[1])))
            elif row.actor == "judge_evaluation":
                found.append((row.args[0], [row.args[1]]))
        return found


@pytest.fixture
def image_reads(monkeypatch) -> Iterator[list[str]]:
    """The image ids whose bytes are read to be decoded (see :func:`service_reading`)."""
    # The services built below configure the process-wide cache: it gets its size back afterwards.
    monkeypatch.setattr(decoded_pixels, "max_bytes", decoded_pixels.max_bytes)
    decoded_pixels.clear()
    yield []
    decoded_pixels.clear()


def service_reading(tmp_path: Path, reads: list[str], monkeypatch, **settings: object) -> EvaluationService:
    """A service whose process keeps no decoded pixels between judges (as when the judges of one evaluation land
    on different worker processes), and that notes in ``reads`` every image it reads to decode."""
    config = Settings(data_dir=tmp_path / "data", decoded_cache_bytes=0, **settings)  # type: ignore[arg-type]
    service = EvaluationService(build_services(config))
    read = service.services.images.read

    def counted(image_id: str) -> bytes:
        reads.append(image_id)
        return read(image_id)

    monkeypatch.setattr(service.services.images, "read", counted)
    return service


def test_an_evaluation_asks_its_whole_panel_in_one_message(tmp_path, image_reads, monkeypatch) -> None:
    service = service_reading(tmp_path, image_reads, monkeypatch)
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    assert len(evaluation.panel) >= 2
    assert panel_messages(service) == [(evaluation.id, sorted(evaluation.panel))]


def test_the_offline_judges_of_an_evaluation_decode_its_image_once(tmp_path, image_reads, monkeypatch) -> None:
    service = service_reading(tmp_path, image_reads, monkeypatch)
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE and done.verdict == "green", done.summary
    assert sorted(v.judge for v in votes) == sorted(evaluation.panel)
    assert all(v.passed for v in votes)
    # Every offline judge (pixels and text both read the pixels) worked on one decode.
    assert image_reads == [evaluation.image_id]


def test_a_panel_message_delivered_again_runs_no_judge_and_writes_nothing(tmp_path, image_reads, monkeypatch) -> None:
    service = service_reading(tmp_path, image_reads, monkeypatch)
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    first, first_votes = service.get(evaluation.id)
    image_reads.clear()
    service.process_panel_message(evaluation.id, evaluation.panel)
    # As if the broker redelivered the old per-judge messages too (queued before an upgrade).
    for judge in evaluation.panel:
        service.process_judge_message(evaluation.id, judge)
    again, votes = service.get(evaluation.id)
    assert image_reads == []
    assert [(v.id, v.judge) for v in votes] == [(v.id, v.judge) for v in first_votes]
    assert (again.verdict, again.finished_at, again.result) == (first.verdict, first.finished_at, first.result)


def test_a_message_for_the_judges_still_missing_skips_those_that_voted(tmp_path, image_reads, monkeypatch) -> None:
    service = service_reading(tmp_path, image_reads, monkeypatch)
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    first, *others = evaluation.panel
    service.process_panel_message(evaluation.id, [first])
    _, votes = service.get(evaluation.id)
    assert [v.judge for v in votes] == [first]
    # Recovery (a restart of the in-process broker) asks for the missing judges, in one message.
    service.recover()
    assert panel_messages(service)[-1] == (evaluation.id, sorted(others))
    service.process_panel_message(evaluation.id, evaluation.panel)
    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE
    assert sorted(v.judge for v in votes) == sorted(evaluation.panel)
    with Session(service.services.engine) as session:
        assert session.get(Evaluation, evaluation.id).verdict == done.verdict


def test_a_judge_past_its_limit_abstains_while_the_others_votes_stand(tmp_path, image_reads, monkeypatch) -> None:
    judges = tmp_path / "judges"
    judges.mkdir()
    for name, timeout in (("pixels", 20), ("text", 0.001)):
        (judges / f"{name}.yaml").write_text(f"name: {name}\nkind: {name}\ntimeout_seconds: {timeout}\n")
    service = service_reading(tmp_path, image_reads, monkeypatch, judges_dir=str(judges))
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(1024, 1024)}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    done, votes = service.get(evaluation.id)
    by_judge = {v.judge: v for v in votes}
    assert by_judge["pixels"].passed is True
    assert by_judge["text"].passed is None
    assert "took longer than its 0.001 s limit" in by_judge["text"].reasoning
    assert done.verdict == "amber"  # a judge that did not answer keeps the verdict from green
