"""Reading a job or an evaluation never runs a database query on the event loop: a finished job's view reads the
review decisions of its attempts' evaluations, an amber evaluation's its own, and on the loop such a query stalled
every other request the API was serving meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.conftest import FIXTURES
from tests.support.on_loop import on_an_event_loop


@contextmanager
def queries_on_the_loop(client) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The statements the API's engine ran on a thread that runs an event loop, meanwhile."""
    engine = client.app.state.services.engine
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if on_an_event_loop():
            seen.append(" ".join(statement.split())[:120])

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_finished_jobs_read_queries_off_the_event_loop(client) -> None:
    body = {"task": "text-to-image", "prompt": "a red ball", "params": {"width": 256, "height": 256}, "max_attempts": 1}
    created = client.post("/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    with queries_on_the_loop(client) as seen:
        job = client.get(f"/v1/jobs/{created.json()['id']}?wait=30").json()
        again = client.get(f"/v1/jobs/{created.json()['id']}").json()
    assert job["state"] == again["state"] == "done", job
    assert job["attempts"][0]["verdict"] in ("green", "amber", "red")
    assert seen == []


def test_an_amber_evaluations_read_queries_off_the_event_loop(client) -> None:
    image = (FIXTURES / "product-white-background" / "graded" / "fill-82.jpg").read_bytes()
    created = client.post(
        "/v1/evaluations", data={"task": "product-white-background"}, files={"image": ("p.jpg", image)}
    ).json()
    with queries_on_the_loop(client) as seen:
        done = client.get(f"/v1/evaluations/{created['id']}?wait=30").json()
        again = client.get(f"/v1/evaluations/{created['id']}").json()
    assert done["verdict"] == again["verdict"] == "amber", done["summary"]
    assert done["review"] == {"state": "waiting", "final_verdict": None}
    assert seen == []
