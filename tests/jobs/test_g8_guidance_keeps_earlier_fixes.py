"""A regeneration keeps the fixes of every earlier failure of its slot: a fix that worked, dropped from the next
prompt, lets the model's default come back, and the same failure is paid for again."""

from __future__ import annotations

from typing import Any

WHITE_FIX = "Use a seamless pure white (#FFFFFF) background"


def test_third_attempt_keeps_the_white_background_fix_the_second_one_needed(
    client: Any,
) -> None:
    created = client.post(
        "/v1/jobs",
        json={
            "task": "product-white-background",
            "prompt": 'a shop sign that says "OPEN 24/7"',
            "max_attempts": 3,
        },
    )
    assert created.status_code == 202, created.text
    job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 60}).json()
    attempts = {a["number"]: a for a in job["attempts"]}
    assert len(attempts) == 3, job
    # The first picture's background failed; the second, told to use white, passed it and failed something else.
    assert "background border" in attempts[1]["summary"]
    assert WHITE_FIX in attempts[2]["prompt"]
    assert "background border" not in attempts[2]["summary"]
    # The third is still told to keep the background white, after the fixes for what failed last.
    assert WHITE_FIX in attempts[3]["prompt"]
    assert attempts[3]["guidance"].index(WHITE_FIX) > 0
    assert "background border" not in attempts[3]["summary"]
