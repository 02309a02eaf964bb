"""The image a panel message's vision judges send is made on the message's thread, once for all of them, before their
calls start (tests/judges/test_vision_concurrency.py: read once, the same image sent by each). An image that cannot be
made then still gets each judge's abstention with the reason, and the message itself does not fail (a failed message
would be retried, and ask the judges again)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentinel.evaluation.vision import judge as vision_judge
from sentinel.models import EvaluationStatus
from sentinel.worker.loop import wait_for_started
from tests.judges.test_vision_judges import GOOD
from tests.judges.test_vision_vote_batching import api_key, fakes, service_with

__all__ = ["api_key", "fakes"]

JUDGES = ("eye-1", "eye-2", "eye-3")


@pytest.fixture(autouse=True)
def nothing_prepared() -> Iterator[None]:
    """No image made by another test of this process: each test's judges make their own."""
    vision_judge._parts.clear()
    yield
    vision_judge._parts.clear()


def test_judges_whose_image_is_gone_abstain_saying_so_and_the_message_completes(tmp_path, fakes) -> None:
    quick, _, model, _ = fakes
    service = service_with(tmp_path, dict.fromkeys(JUDGES, quick))
    evaluation = service.submit(service.validate("vision-only", {}, {"image": GOOD}))
    # The bytes are gone from the store (a blob store restored from an older backup) while the row remains.
    service.services.images.blobs.delete(evaluation.image_id)
    service.process_panel_message(evaluation.id, evaluation.panel)
    assert wait_for_started(60) == 0
    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE
    assert sorted(v.judge for v in votes) == list(JUDGES)
    for vote in votes:
        assert vote.passed is None
        assert "not in the blob store" in vote.reasoning
    # No model was asked about an image no one could send.
    assert model.received == 0
