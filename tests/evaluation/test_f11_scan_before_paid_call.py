"""A vision model is asked only once its image's OCR scan for instructions to the judges is done (outside probe F11).

With the scan started beside the calls, a burst of 500 evaluations x 3 vision judges queued 500 scans behind one scan
thread while every call was made at once: the scans of the later images finished after their judges' limits, and 957
of 1,500 answered (and paid) passes were recorded as abstentions. Scanned first, on the panel message's own thread,
the backlog waits in the judging queue (seen by admission, /readyz and the sweep) and every paid vote counts."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

from sentinel.evaluation.service import EvaluationService
from sentinel.evaluation.vision import injection
from sentinel.models import EvaluationStatus
from sentinel.outbox.steps import PANEL_GRACE_SECONDS
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import wait_for_started
from tests.judges.test_vision_concurrency import settings_from_env, variant
from tests.judges.test_vision_judges import vision_judge_file
from tests.judges.test_vision_vote_batching import RUBRIC, api_key, fakes

__all__ = ["api_key", "fakes", "settings_from_env"]

JUDGES = ("eye-1", "eye-2", "eye-3")
#: Each judge's limit, and how long one scan takes here (the OCR of a page of print on a busy worker).
LIMIT_SECONDS, SCAN_SECONDS = 4, 0.5
#: Evaluations in the burst, and the worker threads taking their messages (as dramatiq's do).
BURST, WORKER_THREADS = 12, 2


def service_with(tmp_path: Path, url: str, limit: float) -> EvaluationService:
    folder, rubrics = tmp_path / "judges", tmp_path / "rubrics"
    folder.mkdir(parents=True)
    rubrics.mkdir(parents=True)
    for name in JUDGES:
        vision_judge_file(folder, name, url, timeout_seconds=limit)
    (rubrics / "vision-only.yaml").write_text(RUBRIC)
    settings = Settings(data_dir=tmp_path / "data", judges_dir=str(folder), rubrics_dir=rubrics)  # type: ignore[call-arg]
    return EvaluationService(build_services(settings))


def test_a_burst_whose_scans_queue_past_the_judges_limit_gets_every_paid_pass_counted(
    tmp_path, fakes, monkeypatch
) -> None:
    quick, _, model, _ = fakes
    # The scans' queue drains at one scan per SCAN_SECONDS: the last of the burst's finishes 6 s after the first
    # starts, past the judges' 4 s limit.
    monkeypatch.setattr(injection, "before_reading", lambda _sha: time.sleep(SCAN_SECONDS))
    service = service_with(tmp_path, quick, LIMIT_SECONDS)
    evaluations = [
        service.submit(service.validate("vision-only", {}, {"image": variant(500 + i)})) for i in range(BURST)
    ]
    with concurrent.futures.ThreadPoolExecutor(WORKER_THREADS) as workers:
        list(workers.map(lambda e: service.process_panel_message(e.id, e.panel), evaluations))
    assert wait_for_started(120) == 0
    verdicts = []
    for evaluation in evaluations:
        done, votes = service.get(evaluation.id)
        assert done.status == EvaluationStatus.DONE
        assert [vote.passed for vote in votes] == [True, True, True], [vote.reasoning for vote in votes]
        verdicts.append(done.verdict)
    assert verdicts == ["green"] * BURST
    # Each judge was asked once per image: no vote was paid for twice, nor given up on.
    assert model.received == BURST * len(JUDGES)


def test_a_judge_is_not_asked_about_an_image_before_its_scan_has_finished(tmp_path, fakes, monkeypatch) -> None:
    quick, _, model, _ = fakes
    asked_while_scanning: list[int] = []

    def scanning(_sha: str) -> None:
        # Long enough that a call started beside the scan has arrived at the model by the time the scan ends.
        time.sleep(SCAN_SECONDS)
        asked_while_scanning.append(model.received)

    monkeypatch.setattr(injection, "before_reading", scanning)
    service = service_with(tmp_path, quick, 20)
    evaluation = service.submit(service.validate("vision-only", {}, {"image": variant(600)}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    assert wait_for_started(60) == 0
    assert asked_while_scanning == [0]
    assert model.received == len(JUDGES)
    assert service.get(evaluation.id)[0].verdict == "green"


def test_a_panel_message_may_take_its_judges_limit_for_the_scan(
    tmp_path, fakes, monkeypatch, settings_from_env
) -> None:
    """The message waits for the scan, up to the vision judges' limit, before its calls start: its time limit
    allows for that wait, or the worker would stop it mid-wait with none of its judges asked."""
    quick, _, _, _ = fakes
    for scan, expected in (("true", 20 + PANEL_GRACE_SECONDS), ("false", PANEL_GRACE_SECONDS)):
        monkeypatch.setenv("SENTINEL_VISION_INSTRUCTION_SCAN", scan)
        service = service_with(tmp_path / scan, quick, 20)
        [message] = service.judge_messages("ev_1", list(JUDGES))
        assert message.options["time_limit"] == expected * 1000


def test_the_scan_is_not_waited_for_when_it_is_off(tmp_path, fakes, monkeypatch, settings_from_env) -> None:
    quick, _, model, _ = fakes
    scanned: list[str] = []
    monkeypatch.setattr(injection, "before_reading", scanned.append)
    monkeypatch.setenv("SENTINEL_VISION_INSTRUCTION_SCAN", "false")
    service = service_with(tmp_path, quick, 20)
    evaluation = service.submit(service.validate("vision-only", {}, {"image": variant(700)}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    assert wait_for_started(60) == 0
    assert scanned == []
    assert model.received == len(JUDGES)
    assert service.get(evaluation.id)[0].verdict == "green"
