"""Reading an evaluation never runs a blocking database query on the event loop: an amber one's view reads its
review decision, and on the loop that query stalled every other request the API was serving meanwhile."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

from sentinel.evaluation.deps import evaluation_service
from sentinel.models import EvaluationStatus, Verdict


class AmberEvaluations:
    """An evaluation service with one finished amber evaluation, noting where its view was made."""

    def __init__(self) -> None:
        self.views_on_the_loop: list[str] = []

    def read(self, evaluation_id: str, caller: Any = None) -> tuple[Any, int]:
        return SimpleNamespace(id=evaluation_id, status=EvaluationStatus.DONE, verdict=Verdict.AMBER), 3

    def view(self, evaluation: Any, votes_in: int) -> dict[str, Any]:
        if _on_event_loop():
            self.views_on_the_loop.append(threading.current_thread().name)
        return {"id": evaluation.id, "object": "evaluation", "status": "done", "verdict": "amber", "votes_in": votes_in}


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_an_amber_evaluations_view_is_made_off_the_event_loop(client) -> None:
    fake = AmberEvaluations()

    async def provide() -> AmberEvaluations:
        return fake

    client.app.dependency_overrides[evaluation_service] = provide
    try:
        answer = client.get("/v1/evaluations/ev-amber", params={"wait": 5})
    finally:
        del client.app.dependency_overrides[evaluation_service]
    assert answer.status_code == 200
    assert answer.json() == {
        "id": "ev-amber",
        "object": "evaluation",
        "status": "done",
        "verdict": "amber",
        "votes_in": 3,
    }
    assert fake.views_on_the_loop == []
