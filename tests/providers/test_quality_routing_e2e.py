"""Quality-aware routing end to end: a served Sentinel (embedded broker and workers, SQLite) routing jobs to two fake
providers whose images are green at known rates. Once enough verdicts are recorded, a task's jobs go mostly to the
candidate with the better green share; below the minimum sample, for another task and without a task, the configured
order holds; the catalog and the dashboard say which order each task takes, and why."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image, ImageDraw

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server
from tests.pages.login import log_in

REVIEWER_KEY = "quality-routing-reviewer-key"
SHAKY, STEADY = "shaky:gpt-image-1", "steady:gpt-image-1"
#: A task whose one judged criterion (besides decoding) is a white border: cheap to judge, and green or amber by design.
PROBE = """\
id: {id}
title: Quality probe
description: A product on white, judged by its border only (a routing test's task).
criteria:
  - id: decodes
    must: The image decodes.
    judge: pixels
    check: decodes
    critical: true
  - id: white
    must: At least 97% of the border is white.
    judge: layout
    check: white_background
"""


def png(bar: bool) -> bytes:
    """A red ball on white: green; with a grey bar on 4% of the border: amber (a mild miss, so no regeneration)."""
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((16, 16, 48, 48), fill=(200, 30, 30))
    if bar:
        draw.rectangle((0, 0, 8, 3), fill=(90, 90, 90))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


GREEN, AMBER = png(bar=False), png(bar=True)
#: Shaky: 2 green in every 5 (40%); steady: 9 in every 10 (90%). Each fake serves its images in this order, so the
#: first k it served are known whatever the order the jobs ran in.
SHAKY_IMAGES = [GREEN, AMBER, AMBER, GREEN, AMBER] * 40
STEADY_IMAGES = [GREEN] * 9 + [AMBER]
STEADY_IMAGES *= 20


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("quality-routing")
    scripts = {"shaky": Script(), "steady": Script()}
    scripts["shaky"].images.extend(SHAKY_IMAGES)
    scripts["steady"].images.extend(STEADY_IMAGES)
    with serve(create_app(scripts["shaky"])) as shaky, serve(create_app(scripts["steady"])) as steady:
        provider: dict[str, Any] = {"kind": "openai", "api_key_env": "FAKE_KEY", "timeout_seconds": 30}
        routes = {
            "providers": {
                "shaky": provider | {"base_url": f"{shaky.url}/v1"},
                "steady": provider | {"base_url": f"{steady.url}/v1"},
            },
            "models": {
                # Configured order: shaky first.
                "house": {"order": "quality", "candidates": [{"target": SHAKY}, {"target": STEADY}]},
                # One candidate each: their verdicts count for `house` too (they are the same provider:model).
                "only-shaky": {"candidates": [{"target": SHAKY}]},
                "only-steady": {"candidates": [{"target": STEADY}]},
            },
            "default_model": "house",
            "max_passes": 1,
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        (tmp / "rubrics").mkdir()
        for task in ("quality-probe", "other-probe"):
            (tmp / "rubrics" / f"{task}.yaml").write_text(PROBE.format(id=task))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_RUBRICS_DIR=str(tmp / "rubrics"),
            SENTINEL_REVIEWER_KEYS=f"admin:{REVIEWER_KEY}",
            SENTINEL_QUALITY_MIN_SAMPLE="10",
            SENTINEL_QUALITY_EXPLORE="0.1",
            # Every routed job reads the verdicts: what the test recorded is what the next job is routed by.
            SENTINEL_QUALITY_REFRESH_SECONDS="0",
            FAKE_KEY="sk-fake",
        )
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield base
        finally:
            server.stop()


def run_jobs(base: str, count: int, model: str, task: str = "quality-probe") -> list[dict[str, Any]]:
    """``count`` jobs at once, each run to its end."""

    def run_one(_: int) -> dict[str, Any]:
        with httpx.Client(base_url=base, timeout=40) as client:
            created = client.post("/v1/jobs", json={"task": task, "prompt": "a red ball", "model": model})
            assert created.status_code == 202, created.text
            job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 30}).json()
        assert job["state"] == "done", job
        return job

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(run_one, range(count)))


def served(jobs: list[dict[str, Any]]) -> Counter[str]:
    """The provider that made each attempt's image, counted."""
    return Counter(attempt["provider"] for job in jobs for attempt in job["attempts"])


def quality_of(base: str, model: str = "house") -> dict[str, Any]:
    entry = httpx.get(f"{base}/v1/models/{model}", timeout=10).json()
    assert entry["order"] == "quality", entry
    return entry["quality"]


def task_row(quality: dict[str, Any], task: str) -> dict[str, Any]:
    [row] = [row for row in quality["tasks"] if row["task"] == task]
    return row


def test_quality_routing_learns_from_verdicts(sentinel: str) -> None:
    base = sentinel
    # Nothing recorded: the configured order, shaky first; one request in ten tries the other candidate first.
    assert quality_of(base)["tasks"] == []
    assert served(run_jobs(base, 10, "house")) == {"shaky": 9, "steady": 1}
    thin = task_row(quality_of(base), "quality-probe")
    assert thin["order"] == [SHAKY, STEADY]
    assert thin["reason"] == "thin data: configured order; explore 10%"
    assert [c["reason"] for c in thin["candidates"]] == [
        "thin data: configured position (9 of 10 judged)",
        "thin data: configured position (1 of 10 judged)",
    ]

    # Recorded through ordinary jobs on one-candidate models: steady reaches 11 judged images (10 green), shaky 10
    # (4 green: its 10th image is amber)...
    assert served(run_jobs(base, 10, "only-steady")) == {"steady": 10}
    [job] = run_jobs(base, 1, "only-shaky")
    [attempt] = job["attempts"]
    assert (attempt["provider"], attempt["verdict"]) == ("shaky", "amber")
    before = {c["target"]: c for c in task_row(quality_of(base), "quality-probe")["candidates"]}
    assert (before[SHAKY]["green"], before[SHAKY]["judged"]) == (4, 10)
    # ... and a reviewer's decision is the verdict that counts: approved, shaky has 5 green of 10.
    decided = httpx.post(f"{base}/v1/review/{attempt['evaluation_id']}/decision", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    ranked = task_row(quality_of(base), "quality-probe")
    assert ranked["order"] == [STEADY, SHAKY]
    assert ranked["reason"] == "by green share; explore 10%"
    steady, shaky = ranked["candidates"]
    assert (steady["green"], steady["judged"], steady["reason"]) == (10, 11, "green share 91% of the last 11 judged")
    assert (shaky["green"], shaky["judged"], shaky["reason"]) == (5, 10, "green share 50% of the last 10 judged")

    # Now the task's jobs go to steady first; exactly one in ten explores shaky.
    counted = served(run_jobs(base, 50, "house"))
    assert counted["steady"] >= 40, counted
    assert counted == {"steady": 45, "shaky": 5}

    # Another task has no verdicts: configured order (its first explore would be its 10th request).
    assert served(run_jobs(base, 3, "house", task="other-probe")) == {"shaky": 3}
    # A plain generation carries no task: configured order, whatever the verdicts say.
    plain = httpx.post(
        f"{base}/v1/images/generations",
        json={"prompt": "a red ball", "model": "house", "task": "quality-probe"},
        timeout=30,
    )
    assert plain.status_code == 200, plain.text
    assert plain.headers["x-sentinel-provider"] == "shaky"

    catalog = {entry["id"]: entry for entry in httpx.get(f"{base}/v1/models", timeout=10).json()["data"]}
    assert catalog["only-steady"]["order"] == "configured" and "quality" not in catalog["only-steady"]
    listed = catalog["house"]["quality"]
    assert task_row(listed, "quality-probe")["order"] == [STEADY, SHAKY]
    assert listed["other_tasks"] == "thin data: configured order; explore 10%"
    assert listed["without_task"] == "configured order"

    dashboard = httpx.get(f"{base}/v1/dashboard", timeout=10).json()
    [house] = dashboard["quality_routing"]
    assert house["model"] == "house"
    assert task_row(house, "quality-probe")["order"] == [STEADY, SHAKY]
    assert task_row(house, "other-probe")["reason"] == "thin data: configured order; explore 10%"
    with httpx.Client(base_url=base, timeout=10) as browser:
        assert log_in(browser, REVIEWER_KEY).status_code in (302, 303)
        page = browser.get("/dashboard").text
    assert "Quality routing" in page
    order = re.findall(r'data-metric="quality_position" data-key="house/quality-probe/([^"]+)">(\d+)<', page)
    assert order == [(STEADY, "1"), (SHAKY, "2")]
    assert 'data-metric="quality_reason" data-key="house/quality-probe">by green share; explore 10%<' in page
    assert "thin data: configured order; explore 10%" in page
