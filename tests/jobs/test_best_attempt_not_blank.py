"""A red job hands back its least bad attempt: a real picture over a blank one, even when the blank one failed
fewer judges (one judge owns blankness and, here, sharpness; the picture also failed the background judge)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import clean_env, start_server

#: not-blank is critical; the picture fails sharpness (pixels) and the white background (layout), two judges; the
#: white-background fix makes the offline renderer draw a white pyramid on white: blank, failing only pixels.
RUBRIC = """\
id: g7-white-product
title: a sharp product on white
inputs: [image]
criteria:
  - id: not-blank
    must: The image is not blank or near-uniform.
    judge: pixels
    check: not_blank
    critical: true
    fix: Render the complete scene described, with visible content; the last image was blank or one flat colour.
  - id: very-sharp
    must: The image is very sharp.
    judge: pixels
    check: sharp
    settings: {min_sharpness: 100000}
    fix: Render crisp, in-focus edges.
  - id: white-background
    must: At least 97% of the border is pure white.
    judge: layout
    check: white_background
    settings: {tolerance: 8, min_white_fraction: 0.97}
    fix: Use a seamless pure white (#FFFFFF) background all the way to the edges.
"""


def test_red_job_and_judged_request_hand_back_a_picture_not_the_blank_attempt(
    tmp_path: Path,
) -> None:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    (rubrics / "g7-white-product.yaml").write_text(RUBRIC)
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_RUBRICS_DIR=str(rubrics))
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=base, timeout=120) as http:
            created = http.post(
                "/v1/jobs",
                json={
                    "task": "g7-white-product",
                    "prompt": "a white pyramid",
                    "seed": 7,
                },
            )
            assert created.status_code == 202, created.text
            job = http.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 60}).json()
            assert job["state"] == "done" and job["verdict"] == "red", job
            blank = [a["number"] for a in job["attempts"] if "blank" in (a["summary"] or "")]
            assert blank, "the scenario needs a blank attempt"
            chosen = job["result"]["images"][0]
            assert chosen["attempt"] not in blank
            assert "blank" not in chosen["summary"]

            judged = http.post(
                "/v1/images/generations",
                json={
                    "prompt": "a white pyramid",
                    "seed": 7,
                    "sentinel": {"task": "g7-white-product"},
                },
            )
            assert judged.status_code == 200, judged.text
            verdict = judged.json()["sentinel"]["verdicts"][0]
            assert verdict["verdict"] == "red"
            assert "blank" not in verdict["summary"]
    finally:
        server.stop()
