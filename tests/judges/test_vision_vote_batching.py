"""The vision votes of one evaluation that answer together are stored together: one transaction (and one finalise)
for the panel, not one per judge; a judge much slower than its siblings does not hold their votes back for long."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from sentinel.evaluation import service as evaluation_service
from sentinel.evaluation.runner import VoteResult
from sentinel.evaluation.service import EvaluationService
from sentinel.models import EvaluationStatus
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import wait_for_started
from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.judges.test_vision_judges import GOOD, KEY, vision_judge_file

RUBRIC = """\
id: vision-only
title: Vision judges only
description: Judged by vision models alone.
inputs: [image]
criteria:
  - id: subject-intact
    must: The subject is whole.
    judge: vision
    ask: Is the subject whole? Pass only if yes.
"""


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)


@pytest.fixture
def fakes() -> Iterator[tuple[str, str, VisionScript, VisionScript]]:
    """Two OpenAI-style models: one answering at once, one taking 2 s (far past the votes' gathering window)."""
    quick = VisionScript(api_key=KEY)
    slow = VisionScript(api_key=KEY, default="slow", slow_seconds=2)
    with ExitStack() as stack:
        quick_url = stack.enter_context(serve(chat.create_app(quick))).url
        yield quick_url, stack.enter_context(serve(chat.create_app(slow))).url, quick, slow


def service_with(tmp_path: Path, judges: dict[str, str]) -> EvaluationService:
    """An in-process service whose panel is the vision judges ``judges`` (name: the model's URL)."""
    folder, rubrics = tmp_path / "judges", tmp_path / "rubrics"
    folder.mkdir()
    rubrics.mkdir()
    for name, url in judges.items():
        vision_judge_file(folder, name, url, timeout_seconds=20)
    (rubrics / "vision-only.yaml").write_text(RUBRIC)
    settings = Settings(data_dir=tmp_path / "data", judges_dir=str(folder), rubrics_dir=rubrics)  # type: ignore[call-arg]
    return EvaluationService(build_services(settings))


def recorded_batches(service: EvaluationService, monkeypatch) -> list[list[str]]:
    """The judges of each vote-storing transaction the service runs, in order."""
    batches: list[list[str]] = []
    record = service.record_votes

    def noted(evaluation_id: str, votes: list[VoteResult], **how: Any) -> set[str]:
        batches.append(sorted(vote.judge for vote in votes))
        return record(evaluation_id, votes, **how)

    monkeypatch.setattr(service, "record_votes", noted)
    return batches


def judged(service: EvaluationService) -> tuple[str, list]:
    evaluation = service.submit(service.validate("vision-only", {}, {"image": GOOD}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    assert wait_for_started(60) == 0
    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE
    return done.verdict, votes


def test_the_votes_of_judges_answering_together_are_stored_in_one_transaction(tmp_path, fakes, monkeypatch) -> None:
    quick, _, _, _ = fakes
    # A window far longer than any stall of a loaded machine: what is tested is that the last answer stores them all.
    monkeypatch.setattr(evaluation_service, "GATHER_VOTES_SECONDS", 60.0)
    service = service_with(tmp_path, {"eye-1": quick, "eye-2": quick, "eye-3": quick})
    batches = recorded_batches(service, monkeypatch)
    verdict, votes = judged(service)
    assert verdict == "green"
    assert batches == [["eye-1", "eye-2", "eye-3"]]
    # Stored together: one timestamp for the three.
    assert sorted(v.judge for v in votes) == ["eye-1", "eye-2", "eye-3"]
    assert len({v.created_at for v in votes}) == 1


def test_a_slow_judge_does_not_hold_back_the_votes_of_the_quick_ones(tmp_path, fakes, monkeypatch) -> None:
    quick, slow, _, _ = fakes
    service = service_with(tmp_path, {"eye-1": quick, "eye-2": quick, "eye-slow": slow})
    batches = recorded_batches(service, monkeypatch)
    verdict, votes = judged(service)
    assert verdict == "green"
    # The quick votes were stored while the slow judge was still being asked (together, or apart when a loaded
    # machine spread their answers past the window); its vote came on its own, and with it the verdict.
    assert batches[-1] == ["eye-slow"]
    assert sorted(judge for batch in batches[:-1] for judge in batch) == ["eye-1", "eye-2"]
    assert sorted(v.judge for v in votes) == ["eye-1", "eye-2", "eye-slow"]


def test_a_message_delivered_again_while_votes_are_gathered_asks_no_judge_twice(tmp_path, fakes, monkeypatch) -> None:
    quick, slow, quick_model, slow_model = fakes
    service = service_with(tmp_path, {"eye-1": quick, "eye-slow": slow})
    batches = recorded_batches(service, monkeypatch)
    evaluation = service.submit(service.validate("vision-only", {}, {"image": GOOD}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    # Delivered again at once (a redelivery, a sweep): both calls are in flight or their votes being gathered.
    service.process_panel_message(evaluation.id, evaluation.panel)
    assert wait_for_started(60) == 0
    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE
    assert sorted(judge for batch in batches for judge in batch) == ["eye-1", "eye-slow"]
    assert sorted(v.judge for v in votes) == ["eye-1", "eye-slow"]
    assert quick_model.received == slow_model.received == 1
