"""A job that got no image says why in its `reason` (and so in a judged gateway request's error), not only in
each attempt's `error`."""

from __future__ import annotations

import io

from PIL import Image


def png(width: int, height: int, mode: str = "RGB", color: object = (10, 200, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, "PNG")  # type: ignore[arg-type]
    return buffer.getvalue()


def test_an_edit_job_the_provider_refuses_names_the_providers_reason(client) -> None:
    # The offline renderer edits sources of 16 to 4096 pixels a side: an 8×8 source is refused on every attempt.
    # The mask marks a corner (one marking all of it is refused up front: nothing outside it to judge).
    mask = Image.new("L", (8, 8), 0)
    mask.paste(255, (0, 0, 4, 4))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    files = {"source": ("source.png", png(8, 8)), "mask": ("mask.png", buffer.getvalue())}
    created = client.post(
        "/v1/jobs", data={"task": "object-removal", "prompt": "remove it", "max_attempts": "1"}, files=files
    )
    assert created.status_code == 202, created.text
    job = client.get(f"/v1/jobs/{created.json()['id']}?wait=30").json()
    assert job["state"] == "failed", job
    assert "8x8 is outside 16-4096" in job["attempts"][0]["error"], job["attempts"]
    assert job["reason"].startswith("no image could be generated"), job["reason"]
    assert "8x8 is outside 16-4096" in job["reason"], job["reason"]
