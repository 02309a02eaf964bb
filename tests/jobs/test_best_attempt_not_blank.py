"""A red job hands back its least bad attempt: a real picture over a blank one, even when the blank one failed
fewer judges (one judge owns blankness and, here, sharpness; the picture also failed the background judge).

The offline renderer's white-on-white product is a thin grey outline, which the not-blank check reads as a line
drawing (content), so the job below makes no blank attempt: it checks that the attempt with the least severe
failures is handed back end to end, and the ranking of a blank attempt is checked on the attempts themselves."""

from __future__ import annotations

from pathlib import Path

import httpx

from sentinel.jobs.selection import choose, issue_counts
from sentinel.models import JobAttempt
from tests.conftest import clean_env, start_server

#: not-blank is critical; the picture fails sharpness (pixels) and the white background (layout), two judges; the
#: white-background fix makes the offline renderer draw a white pyramid on white, failing sharpness only.
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


def test_red_job_and_judged_request_hand_back_the_attempt_with_the_least_bad_failures(
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
            first, *later = job["attempts"]
            assert "white" in first["summary"] and later, job["attempts"]
            # The picture on a coloured background failed two judges; the later ones, one: a later one is handed back.
            chosen = job["result"]["images"][0]
            assert chosen["attempt"] != first["number"]
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


def _attempt(number: int, failed_judges: int, issues: list[dict[str, object]]) -> JobAttempt:
    return JobAttempt(
        job_id="job_x",
        number=number,
        verdict="red",
        failed_judges=failed_judges,
        passed_criteria=3 - len(issues),
        issue_counts=issue_counts({"issues": issues}),
    )


def test_a_blank_attempt_ranks_below_a_picture_that_failed_more_judges() -> None:
    picture = _attempt(1, 2, [{"severity": "severe"}, {"severity": "severe"}])
    blank = _attempt(2, 1, [{"severity": "severe", "critical": True}])
    assert choose([picture, blank]) is picture
    assert choose([blank, picture]) is picture
    # Without a critical failure, fewer failing judges wins.
    sharper = _attempt(3, 1, [{"severity": "severe"}])
    assert choose([picture, sharper]) is sharper
