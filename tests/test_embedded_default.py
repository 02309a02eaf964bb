"""`sentinel serve` with no settings at all: SQLite, blobs on disk, in-process broker and workers."""

from __future__ import annotations

import os
import time

import httpx

from sentinel.evaluation.service import EvaluationService
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import clean_env, png_bytes, start_server


def test_serve_with_no_settings_returns_a_verdict_and_keeps_it_across_restarts(tmp_path) -> None:
    env = clean_env()
    server, base = start_server(env, tmp_path / "serve.log", cwd=tmp_path)
    try:
        response = httpx.post(
            f"{base}/v1/evaluations",
            data={"task": "text-to-image", "params": '{"width": 640, "height": 480}'},
            files={"image": ("photo.png", png_bytes(640, 480), "image/png")},
        )
        assert response.status_code == 202, response.text
        evaluation_id = response.json()["id"]
        body = httpx.get(f"{base}/v1/evaluations/{evaluation_id}?wait=30", timeout=40).json()
        assert body["status"] == "done"
        assert body["verdict"] in ("green", "amber", "red")
        assert body["judges"] and all(j["reasoning"] for j in body["judges"])
        rubrics = httpx.get(f"{base}/v1/rubrics").json()["data"]
        assert {r["id"] for r in rubrics} >= {
            "text-to-image",
            "product-white-background",
            "text-render",
            "object-removal",
            "background-replace",
        }
        assert httpx.get(f"{base}/docs").status_code == 200
        paths = httpx.get(f"{base}/openapi.json").json()["paths"]
        assert {"/v1/evaluations", "/v1/evaluations/{evaluation_id}", "/v1/images/{image_id}"} <= set(paths)
    finally:
        server.stop()
    assert (tmp_path / ".sentinel" / "sentinel.db").exists()
    assert "in-process broker" in server.output()

    server, base = start_server(env, tmp_path / "serve2.log", cwd=tmp_path)
    try:
        again = httpx.get(f"{base}/v1/evaluations/{evaluation_id}").json()
        assert again["verdict"] == body["verdict"]
        assert again["summary"] == body["summary"]
    finally:
        server.stop()


def test_unfinished_evaluations_are_resumed_when_the_server_starts(tmp_path) -> None:
    # An evaluation whose messages died with a previous process: stored, never judged.
    settings = Settings(data_dir=tmp_path / ".sentinel")
    service = EvaluationService(build_services(settings))
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(320, 240)}))

    server, base = start_server(clean_env(), tmp_path / "serve.log", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        body: dict = {}
        while time.monotonic() < deadline:
            body = httpx.get(f"{base}/v1/evaluations/{evaluation.id}?wait=5", timeout=10).json()
            if body["status"] == "done":
                break
        assert body["status"] == "done", body
        assert body["votes_in"] == len(evaluation.panel)
    finally:
        server.stop()
    assert "1 unfinished evaluations resumed" in server.output()
    assert not os.environ.get("SENTINEL_REDIS_URL")
