"""The client is light to import and stands alone: no server module, none of the server's heavy libraries; and its
result models keep up with the shapes the server answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import BaseModel

from sentinel import client
from sentinel.evaluation.schemas import EvaluationOut
from sentinel.jobs.schemas import AttemptOut, JobOut
from sentinel.review.schemas import DecisionOut, ReviewItemOut

#: What a client user must not pay for at import time.
HEAVY = ("numpy", "PIL", "sqlmodel", "sqlalchemy", "fastapi", "starlette", "cv2", "onnxruntime", "dramatiq")


def test_importing_the_client_loads_no_server_code_and_no_heavy_library() -> None:
    code = "import sys, json, sentinel.client; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY]
    server = [name for name in loaded if name.startswith("sentinel.") and not name.startswith("sentinel.client")]
    assert heavy == [] and server == [], (heavy, server)
    assert "httpx" in loaded and "pydantic" in loaded  # what it is built on


@pytest.mark.parametrize(
    ("ours", "servers"),
    [
        (client.Evaluation, EvaluationOut),
        (client.Job, JobOut),
        (client.JobAttempt, AttemptOut),
        (client.ReviewItem, ReviewItemOut),
        (client.Decision, DecisionOut),
    ],
)
def test_every_field_the_server_answers_is_typed_in_the_client(ours: type[BaseModel], servers: type[BaseModel]) -> None:
    missing = sorted(set(servers.model_fields) - set(ours.model_fields) - {"object"})
    assert missing == [], f"{ours.__name__} lacks {missing} that {servers.__name__} answers"
