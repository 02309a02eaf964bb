"""Probe G5: `sentinel serve` stopped (SIGTERM) while clients long-poll a job and an evaluation, with a grace period
shorter than their waits. They answered uvicorn's bare `500 Internal Server Error` (text/plain) when the grace
period ended, and the log had the cancelled task's traceback at ERROR. Each now answers at once with the resource as
it is (200, as a wait that ran out does), and nothing is logged at ERROR."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
from contextlib import ExitStack
from pathlib import Path

import httpx
import yaml

from sentinel.settings import DATA_ROOT
from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.conftest import REPO, clean_env, start_server
from tests.judges.test_vision_judges import GOOD, KEY, offline_judges, rubric_file, vision_judge_file

#: Longer than the grace period and than any of the test's steps: the job and the evaluation are still running when
#: the server is stopped.
SLOW_SECONDS = 30
GRACE_SECONDS = 3


def _waiting(base: str, path: str) -> http.client.HTTPConnection:
    """A long poll of ``path`` sent (not yet answered)."""
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=60)
    connection.request("GET", f"{path}?wait=30")
    return connection


def test_long_polls_answer_the_current_state_when_the_server_stops(tmp_path: Path) -> None:
    judges, rubrics = tmp_path / "judges", tmp_path / "rubrics"
    judges.mkdir()
    rubrics.mkdir()
    offline_judges(judges)
    # The job's task (text-to-image) has text criteria: a panel without a text judge refuses it up front.
    shutil.copy(DATA_ROOT / "judges" / "text.yaml", judges / "text.yaml")
    routes = yaml.safe_load((REPO / "sentinel" / "providers" / "routes.yaml").read_text())
    routes["models"]["slow-local"] = {
        "sizes": ["1024x1024"],
        "candidates": [{"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": SLOW_SECONDS}}],
    }
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    with ExitStack() as stack:
        eye = VisionScript(api_key=KEY, default="slow", slow_seconds=SLOW_SECONDS)
        vision_judge_file(judges, "eye", stack.enter_context(serve(chat.create_app(eye))).url, timeout_seconds=60)
        rubric_file(rubrics, escalate=False)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_JUDGES_DIR=str(judges),
            SENTINEL_RUBRICS_DIR=str(rubrics),
            SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
            SENTINEL_TEST_VISION_KEY=KEY,
            SENTINEL_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
        )
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            job = httpx.post(
                f"{base}/v1/jobs",
                json={"task": "text-to-image", "prompt": "a red ball", "model": "slow-local"},
                timeout=30,
            )
            assert job.status_code == 202, job.text
            evaluation = httpx.post(
                f"{base}/v1/evaluations",
                data={"task": "product-vision", "params": '{"prompt": "a coffee cup"}'},
                files={"image": ("cup.jpg", GOOD)},
                timeout=30,
            )
            assert evaluation.status_code == 202, evaluation.text
            polls = {
                "job": _waiting(base, f"/v1/jobs/{job.json()['id']}"),
                "evaluation": _waiting(base, f"/v1/evaluations/{evaluation.json()['id']}"),
            }
            # Both requests were sent before this one; once it is answered the server has read them too.
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
            server.process.send_signal(signal.SIGTERM)
            answers = {name: poll.getresponse() for name, poll in polls.items()}
            bodies = {
                name: (answer.status, answer.getheader("content-type"), answer.read())
                for name, answer in answers.items()
            }
            stopped_with = server.process.wait(timeout=60)
        finally:
            server.stop()
    for name, (status, content_type, body) in bodies.items():
        assert status == 200, (name, status, body[:300])
        assert content_type.startswith("application/json"), (name, content_type)
    assert json.loads(bodies["job"][2])["state"] in ("queued", "generating"), bodies["job"]
    assert json.loads(bodies["evaluation"][2])["status"] == "judging", bodies["evaluation"]
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert stopped_with == 0, (stopped_with, log[-4000:])
    assert "ERROR" not in log and "Traceback" not in log, log[-4000:]
