"""The offline judges run on threads a worker keeps from one message to the next (named so, where the operating
system shows thread names), not on a thread started for each judge of each message."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from sentinel.evaluation.runner import JUDGE_THREAD_NAME
from sentinel.evaluation.service import EvaluationService
from sentinel.models import EvaluationStatus
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import png_bytes


def judge_threads() -> dict[int, threading.Thread]:
    return {t.ident: t for t in threading.enumerate() if t.name.startswith("judge") and t.ident is not None}


def test_the_judges_of_successive_messages_run_on_kept_threads(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path / "data")))  # type: ignore[call-arg]
    first, second = (
        service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300, color)}))
        for color in ((200, 30, 30), (30, 200, 30))
    )

    service.process_panel_message(first.id, first.panel)
    kept = judge_threads()
    # The threads that voted are still there once the message is done, waiting for the next message's judges.
    assert kept and all(thread.is_alive() for thread in kept.values())

    service.process_panel_message(second.id, second.panel)
    for evaluation in (first, second):
        done, votes = service.get(evaluation.id)
        assert done.status == EvaluationStatus.DONE and done.verdict == "green", done.summary
        assert sorted(v.judge for v in votes) == sorted(evaluation.panel)
    # The second message's judges ran on those threads: no new thread was started for them.
    assert set(judge_threads()) == set(kept)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names are read from /proc")
def test_the_judge_threads_carry_their_name_where_the_system_shows_it(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path / "data")))  # type: ignore[call-arg]
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    service.process_panel_message(evaluation.id, evaluation.panel)
    names = {Path(f"/proc/self/task/{t.native_id}/comm").read_text().strip() for t in judge_threads().values()}
    # ``sentinel bench load`` tells the judges' CPU from the worker's own by this name.
    assert names == {JUDGE_THREAD_NAME}
