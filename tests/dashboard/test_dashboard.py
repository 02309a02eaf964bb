"""The dashboard: numbers read back from the recorded rows, charts that are safe inline SVG, and the page template."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import jinja2
import numpy as np
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, SQLModel, select

from sentinel.dashboard.charts import chart_context, grouped_bar_chart, stacked_bar_chart
from sentinel.dashboard.service import WINDOWS, DashboardService
from sentinel.db import build_engine
from sentinel.models import Evaluation, Job, JobAttempt, ProviderCall, ReviewDecision, StoredImage
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel_fakes.openai import create_app as create_fake_openai
from sentinel_fakes.server import Script, serve
from tests.conftest import REPO, clean_env, start_server

TEMPLATES = REPO / "sentinel" / "pages" / "templates"
#: One answer per request to the model "house", in order. Its 429s ask for no wait (a real Retry-After is binding: a
#: request would not call the candidate at all); its breaker opens on one 503 for longer than the test, so the request
#: right after the 503 finds the candidate cooling down: it records a "skipped" row, then probes it as its last resort.
HOUSE_ANSWERS = ["ok", "rate_limit", "ok", "unavailable", "ok", "content_filter", "ok", "rate_limit", "ok", "ok"]
HOUSE_STATUS = {"ok": 200, "rate_limit": 429, "unavailable": 503, "content_filter": 400}
SPARE_CALLS = 3
HOUSE, SPARE = "fake:gpt-image-1", "spare:gpt-image-1-mini"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`sentinel serve` in front of a fake provider failing in known proportions, after the scripted requests."""
    tmp = tmp_path_factory.mktemp("dashboard")
    script = Script(retry_after=0)
    with serve(create_fake_openai(script)) as fake:
        provider = {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 5}
        # Longer than the test: whether a request finds the candidate cooling down must not depend on timing.
        provider["circuit_breaker"] = {"failure_threshold": 1, "cooldown_seconds": 300}
        routes = {
            "providers": {"fake": provider, "spare": provider},
            "models": {
                "house": {"candidates": [{"target": HOUSE}], "cost_per_image": 0.04},
                "backup": {"candidates": [{"target": SPARE}], "cost_per_image": 0.02},
            },
            "default_model": "house",
            # One walk per request: a second walk would call again after a 429 and blur the proportions.
            "max_passes": 1,
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        data_dir = tmp / "data"
        env = clean_env(
            SENTINEL_DATA_DIR=str(data_dir),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
            FAKE_KEY="sk-fake",
        )
        server, base = start_server(env, tmp / "api.log")
        # The service itself, over the server's database, for windows that depend on "now".
        engine = build_engine(Settings(data_dir=data_dir).resolved_database_url)
        try:
            statuses = []
            script.push(*HOUSE_ANSWERS, *["ok"] * SPARE_CALLS)
            for model in ["house"] * len(HOUSE_ANSWERS) + ["backup"] * SPARE_CALLS:
                body = {"model": model, "prompt": "a lighthouse at dusk", "size": "1024x1024"}
                statuses.append(httpx.post(f"{base}/v1/images/generations", json=body, timeout=30).status_code)
            services = SimpleNamespace(engine=engine)
            yield {"base": base, "data_dir": data_dir, "statuses": statuses, "services": services}
        finally:
            engine.dispose()
            server.stop()


def recorded_summary(run: dict[str, Any]) -> dict[str, Any]:
    """GET /v1/dashboard once every call is in: a success's calls are written after its response is sent."""
    expected = len(HOUSE_ANSWERS) + SPARE_CALLS
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{run['base']}/v1/dashboard", params={"window": "1h"}, timeout=10)
        assert response.status_code == 200, response.text
        summary = response.json()
        if summary["totals"]["requests"] >= expected or time.monotonic() > deadline:
            return summary
        time.sleep(0.05)


@pytest.fixture(scope="module")
def summary(run: dict[str, Any]) -> dict[str, Any]:
    return recorded_summary(run)


def test_the_run_answered_as_scripted(run: dict[str, Any]) -> None:
    expected = [HOUSE_STATUS[answer] for answer in HOUSE_ANSWERS] + [200] * SPARE_CALLS
    assert run["statuses"] == expected


def test_dashboard_shows_the_failure_proportions_of_the_run(summary: dict[str, Any]) -> None:
    house, spare = summary["providers"]
    assert house["key"] == HOUSE and (house["provider"], house["model"]) == ("fake", "gpt-image-1")
    assert house["requests"] == 10
    assert house["ok"] == 6
    # The prompt the provider refused is the caller's, not the provider failing: 6 ok of the 9 others.
    assert house["success_rate"] == pytest.approx(6 / 9) and house["callers_faults"] == 1
    assert house["failures"] == {"rate_limited": 2, "unavailable": 1, "content_filtered": 1}
    # The request after the 503 found the candidate cooling down: a skipped row, not a request.
    assert house["skipped"] == 1
    assert house["cost"] == pytest.approx(6 * 0.04)
    assert summary["failure_classes"] == ["rate_limited", "unavailable", "content_filtered"]

    assert spare["key"] == SPARE
    assert (spare["requests"], spare["ok"], spare["success_rate"], spare["skipped"]) == (3, 3, 1.0, 0)
    assert spare["failures"] == {"rate_limited": 0, "unavailable": 0, "content_filtered": 0}
    assert summary["totals"]["requests"] == 13 and summary["totals"]["ok"] == 9
    assert summary["totals"]["success_rate"] == pytest.approx(9 / 12)


def test_latency_percentiles_are_those_of_the_recorded_calls(run: dict[str, Any], summary: dict[str, Any]) -> None:
    engine = create_engine(f"sqlite:///{Path(run['data_dir']) / 'sentinel.db'}")
    latencies: dict[str, list[float]] = defaultdict(list)
    with Session(engine) as session:
        for call in session.exec(select(ProviderCall).where(ProviderCall.outcome == "ok")):
            latencies[f"{call.provider}:{call.provider_model}"].append(call.latency_ms)
    engine.dispose()
    assert {key: len(values) for key, values in latencies.items()} == {HOUSE: 6, SPARE: 3}
    for row in summary["providers"]:
        p50, p95, p99 = np.percentile(latencies[row["key"]], [50, 95, 99])
        assert row["latency_ms"] == {
            "p50": pytest.approx(p50),
            "p95": pytest.approx(p95),
            "p99": pytest.approx(p99),
            "samples": len(latencies[row["key"]]),
        }


def test_a_window_after_the_run_is_empty(run: dict[str, Any]) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)
    summary = DashboardService(cast(Services, run["services"])).summary("1h", now=later)
    assert summary["providers"] == [] and summary["totals"]["requests"] == 0
    assert summary["window"]["end"] == later.isoformat()
    page = render_page(summary, "1h")
    assert "No provider calls in this window." in page and "no calls in this window" in page


def test_unknown_window_is_a_clear_400(run: dict[str, Any]) -> None:
    response = httpx.get(f"{run['base']}/v1/dashboard", params={"window": "2h"}, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "window"
    assert "2h" in error["message"] and ", ".join(WINDOWS) in error["message"]


def render_page(summary: dict[str, Any], window: str) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    return environment.get_template("dashboard.html").render(
        summary=summary,
        charts=chart_context(summary),
        window=window,
        windows=list(WINDOWS),
        reviewer=None,
        calibration={"decisions": 0, "judges": {}},
    )


def cell(page: str, metric: str, key: str) -> str:
    match = re.search(rf'data-metric="{metric}" data-key="{re.escape(key)}"[^>]*>([^<]*)', page)
    assert match, f"no {metric} cell for {key}"
    return match.group(1).strip()


def test_page_shows_the_proportions_and_percentiles(summary: dict[str, Any]) -> None:
    page = render_page(summary, "1h")
    assert cell(page, "requests", HOUSE) == "10"
    assert cell(page, "success_rate", HOUSE) == "66.7%"
    assert cell(page, "rate_limited", HOUSE) == "2"
    assert 'data-metric="rate_limited" data-key="fake:gpt-image-1" data-count="2">2 <span class="share">(20.0%)' in page
    assert "(20.0%)" in page and "(10.0%)" in page
    assert cell(page, "skipped", HOUSE) == "1"
    house = summary["providers"][0]
    for name in ("p50", "p95", "p99"):
        assert cell(page, name, HOUSE) == f"{house['latency_ms'][name]:.1f}"
    assert cell(page, "success_rate", SPARE) == "100.0%"
    assert cell(page, "cost", HOUSE) == "$0.2400"
    assert '<a href="?window=1h" class="current" aria-current="page">1h</a>' in page
    assert '<a href="?window=24h">24h</a>' in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2  # outcomes and latency; no verdicts yet
    assert "no judged attempts in this window" in page and "no verdicts in this window" in page
    assert " style=" not in page and "<script" not in page


# -- verdicts, regeneration and the review queue, on rows written directly -----------------------------------------

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
IMAGE = "a" * 64


def minutes_ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def evaluation(evaluation_id: str, task: str, verdict: str, finished_minutes_ago: float) -> Evaluation:
    finished = minutes_ago(finished_minutes_ago)
    return Evaluation(
        id=evaluation_id,
        task=task,
        image_id=IMAGE,
        status="done",
        rubric={},
        panel=["pixels"],
        quorum=1,
        verdict=verdict,
        created_at=finished - timedelta(seconds=2),
        deadline_at=finished + timedelta(minutes=5),
        finished_at=finished,
    )


def attempt(job_id: str, number: int, target: str, evaluation_id: str, started: datetime) -> JobAttempt:
    provider, model = target.split(":", 1)
    return JobAttempt(
        job_id=job_id,
        number=number,
        provider=provider,
        provider_model=model,
        evaluation_id=evaluation_id,
        started_at=started,
    )


def job(job_id: str, created: datetime) -> Job:
    return Job(id=job_id, task="t", prompt="p", created_at=created, deadline_at=created + timedelta(minutes=5))


def call(outcome: str, minutes: float, latency: float = 0.0) -> ProviderCall:
    return ProviderCall(
        request_id="r",
        model="house",
        provider="openai",
        provider_model="gpt-image-1",
        outcome=outcome,
        latency_ms=latency,
        created_at=minutes_ago(minutes),
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> DashboardService:
    engine = build_engine(f"sqlite:///{tmp_path_factory.mktemp('dashboard-rows') / 'sentinel.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        # Flushed one table at a time: SQLite checks the foreign keys, and these models declare no relationships.
        session.add(StoredImage(id=IMAGE, mime="image/png", width=1, height=1, size_bytes=1))
        session.flush()
        session.add_all(
            [
                evaluation("e-green", "product-shot", "green", 10),
                evaluation("e-amber-waiting", "product-shot", "amber", 30),
                evaluation("e-red", "text-render", "red", 5),
                evaluation("e-amber-old", "text-render", "amber", 120),
                evaluation("e-amber-decided", "text-render", "amber", 50),
                evaluation("e-green-last-week", "product-shot", "green", 3 * 24 * 60),
            ]
        )
        session.flush()
        session.add(ReviewDecision(evaluation_id="e-amber-decided", decision="approve", reviewer="ann", created_at=NOW))
        session.add_all([job("j-regenerated", minutes_ago(20)), job("j-once", minutes_ago(40))])
        session.add(job("j-old", minutes_ago(3 * 24 * 60)))
        session.flush()
        session.add_all(
            [
                attempt("j-regenerated", 1, "openai:gpt-image-1", "e-red", minutes_ago(20)),
                attempt("j-regenerated", 2, "google:imagen-4", "e-green", minutes_ago(15)),
                attempt("j-once", 1, "openai:gpt-image-1", "e-amber-waiting", minutes_ago(40)),
                attempt("j-old", 1, "openai:gpt-image-1", "e-green-last-week", minutes_ago(3 * 24 * 60)),
            ]
        )
        session.add_all(
            [
                call("ok", 10, 100.0),
                call("timeout", 10),
                call("skipped", 10),
                call("mystery", 10),
                call("ok", 120, 900.0),
            ]
        )
        session.commit()
    return DashboardService(cast(Services, SimpleNamespace(engine=engine)))


def test_verdict_mix_regeneration_and_review_queue(written: DashboardService) -> None:
    summary = written.summary("24h", now=NOW)
    assert summary["verdicts_by_model"] == [
        {"key": "openai:gpt-image-1", "green": 0, "amber": 1, "red": 1},
        {"key": "google:imagen-4", "green": 1, "amber": 0, "red": 0},
    ]
    assert summary["verdicts_by_task"] == [
        {"task": "text-render", "green": 0, "amber": 2, "red": 1},
        {"task": "product-shot", "green": 1, "amber": 1, "red": 0},
    ]
    assert summary["regeneration"] == {
        "jobs": 2,
        "regenerated_jobs": 1,
        "rate": 0.5,
        "attempts": 3,
        "attempts_per_job": 1.5,
    }
    assert summary["review_queue"] == {
        "waiting": 2,
        "oldest_age_seconds": 7200.0,
        "median_age_seconds": 4500.0,
        "decided_in_window": 1,
    }


def test_window_bounds_and_unknown_outcomes(written: DashboardService) -> None:
    hour = written.summary("1h", now=NOW)
    by_task = {row["task"]: row for row in hour["verdicts_by_task"]}
    assert by_task["text-render"] == {"task": "text-render", "green": 0, "amber": 1, "red": 1}
    # The queue is what waits now, whatever the window.
    assert hour["review_queue"]["waiting"] == 2
    [row] = hour["providers"]
    assert (row["requests"], row["ok"], row["skipped"]) == (3, 1, 1)
    assert hour["failure_classes"] == ["timeout", "mystery"]
    assert row["latency_ms"] == {"p50": 100.0, "p95": 100.0, "p99": 100.0, "samples": 1}
    day = written.summary("24h", now=NOW)
    assert day["providers"][0]["requests"] == 4
    assert day["providers"][0]["latency_ms"]["p50"] == pytest.approx(500.0)
    assert written.summary("30d", now=NOW)["regeneration"]["jobs"] == 3


def test_page_renders_verdicts_and_queue(written: DashboardService) -> None:
    page = render_page(written.summary("24h", now=NOW), "24h")
    assert cell(page, "amber", "text-render") == "2"
    assert cell(page, "green_share", "google:imagen-4") == "100.0%"
    assert '<dd data-metric="regeneration_rate">50.0%</dd>' in page
    assert '<dd data-metric="review_waiting">2</dd>' in page
    assert ">2.0 h</dd>" in page and ">75 min</dd>" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 4


# -- charts ----------------------------------------------------------------------------------------------------------


def test_stacked_chart_escapes_labels_and_sizes_segments_by_count() -> None:
    hostile = '<script>alert("x")</script>'
    svg = str(
        stacked_bar_chart(
            [(hostile, {"ok": 6, "rate_limited": 3, hostile: 1})],
            ["ok", "rate_limited", hostile],
            title=f"mix {hostile}",
        )
    )
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert " style=" not in svg
    assert 'role="img"' in svg and 'aria-label="mix &lt;script&gt;' in svg
    widths = {
        segment: float(width)
        for width, segment in re.findall(
            r'<rect class="seg [^"]*" [^>]*width="([\d.]+)"[^>]*data-segment="([^"]*)"', svg
        )
    }
    assert set(widths) == {"ok", "rate_limited", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"}
    total = sum(widths.values())
    assert widths["ok"] / total == pytest.approx(0.6, abs=1e-3)
    assert widths["rate_limited"] / total == pytest.approx(0.3, abs=1e-3)
    assert "6 · 60%" in svg and "n = 10" in svg
    assert 'class="seg seg-ok"' in svg and 'class="seg seg-rate_limited"' in svg


def test_latency_chart_labels_values_and_scales_bars() -> None:
    svg = str(
        grouped_bar_chart([("a<b>", {"p50": 100.0, "p95": 200.0, "p99": 400.0})], ("p50", "p95", "p99"), title="t")
    )
    assert "a&lt;b&gt;" in svg and "<b>" not in svg and " style=" not in svg
    assert "100.0 ms" in svg and "400.0 ms" in svg
    widths = [float(w) for w in re.findall(r'<rect class="bar [^"]*" [^>]*width="([\d.]+)"', svg)]
    assert widths[0] / widths[2] == pytest.approx(0.25) and widths[1] / widths[2] == pytest.approx(0.5)


def test_empty_charts_say_so() -> None:
    empty = {"providers": [], "failure_classes": [], "verdicts_by_model": [], "verdicts_by_task": []}
    charts = chart_context(empty)
    assert "no calls in this window" in charts["outcomes"] and "no calls in this window" in charts["latency"]
    assert "<svg" not in charts["outcomes"]
