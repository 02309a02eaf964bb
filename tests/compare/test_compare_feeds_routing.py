"""`sentinel compare` feeds quality-aware routing: a seeded suite over three pinned candidates of known quality ranks
them, its jobs are ordinary recorded jobs, and a model with ``order: quality`` over the same three then sends most
of that task's traffic to the one compare ranked first (although it is configured last)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.compare.test_compare import compare
from tests.conftest import clean_env, start_server
from tests.providers.test_quality_routing_e2e import AMBER, GREEN, PROBE

TASK = "quality-probe"
PROMPTS = ("a red ball", "a red ball on a table", "a red ball in a box", "a red ball, close up", "a red ball, small")
#: Per prompt, whether the candidate's picture is green (else amber: a mild miss, never regenerated). Good passes
#: all five, mixed three, poor one: compare must rank them good, mixed, poor.
PLANS = {
    "model-good": (True, True, True, True, True),
    "model-mixed": (True, True, True, False, False),
    "model-poor": (True, False, False, False, False),
}
SEEDS = [7, 8]
ROUTED_JOBS = 20


def pick(body: dict[str, Any]) -> bytes:
    """By model and prompt alone, so the verdicts never depend on the order concurrent jobs reach the fake. The
    routed jobs' prompt is the first one, which every candidate passes: only the compare's verdicts tell them apart."""
    prompt = str(body["prompt"])
    index = max((i for i, p in enumerate(PROMPTS) if prompt.startswith(p)), key=lambda i: len(PROMPTS[i]))
    return GREEN if PLANS[str(body["model"])][index] else AMBER


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], str]]:
    tmp = tmp_path_factory.mktemp("compare-routing")
    with serve(create_app(Script(pick=pick))) as fake:
        routes = {
            "providers": {
                "fake": {
                    "kind": "openai",
                    "base_url": f"{fake.url}/v1",
                    "api_key_env": "FAKE_KEY",
                    "timeout_seconds": 30,
                }
            },
            # Configured worst first: only the recorded verdicts can put the good one in front.
            "models": {
                "house": {
                    "order": "quality",
                    "candidates": [{"target": f"fake:{m}"} for m in ("model-poor", "model-mixed", "model-good")],
                }
            },
            "default_model": "house",
            "max_passes": 1,
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        (tmp / "rubrics").mkdir()
        (tmp / "rubrics" / f"{TASK}.yaml").write_text(PROBE.format(id=TASK))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_RUBRICS_DIR=str(tmp / "rubrics"),
            # The compare records ten judged images per candidate: enough to rank them.
            SENTINEL_QUALITY_MIN_SAMPLE="5",
            SENTINEL_QUALITY_EXPLORE="0.1",
            SENTINEL_QUALITY_REFRESH_SECONDS="0",
            FAKE_KEY="sk-fake",
        )
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield tmp, env, base
        finally:
            server.stop()


def run_jobs(base: str, count: int) -> list[dict[str, Any]]:
    def run_one(_: int) -> dict[str, Any]:
        with httpx.Client(base_url=base, timeout=40) as client:
            created = client.post("/v1/jobs", json={"task": TASK, "prompt": PROMPTS[0], "model": "house"})
            assert created.status_code == 202, created.text
            job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 30}).json()
        assert job["state"] == "done", job
        return job

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(run_one, range(count)))


def test_compare_ranks_three_candidates_and_routing_then_prefers_its_first(sentinel) -> None:
    tmp, env, base = sentinel
    suite = {
        "name": "balls",
        "task": TASK,
        # Worst first: the ranking must not be the suite's order.
        "models": ["fake:model-poor", "fake:model-good", "fake:model-mixed"],
        "prompts": list(PROMPTS),
        "seeds": SEEDS,
        "max_attempts": 1,
        "concurrency": 4,
    }
    (tmp / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    result = compare(env, str(tmp / "suite.yaml"), "--server", base, "--json", "-")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    ranked = [m["model"] for m in report["models"]]
    assert ranked == ["fake:model-good", "fake:model-mixed", "fake:model-poor"]
    assert [(m["runs"], m["green"]) for m in report["models"]] == [(10, 10), (10, 6), (10, 2)]
    # One job per prompt × model × seed, each generated with its seed (shown on the job itself).
    assert report["seeds"] == SEEDS
    assert Counter(r["seed"] for r in report["runs"]) == {7: 15, 8: 15}
    some = report["runs"][0]
    assert httpx.get(f"{base}/v1/jobs/{some['job_id']}", timeout=10).json()["seed"] == some["seed"]

    jobs = run_jobs(base, ROUTED_JOBS)
    first = Counter(f"{a['provider']}:{a['model']}" for job in jobs for a in job["attempts"] if a["number"] == 1)
    assert sum(first.values()) == ROUTED_JOBS
    # Exploration is counted (one request in ten tries another candidate first), not drawn: at least 80% go to the
    # candidate compare ranked first.
    assert first[ranked[0]] >= 0.8 * ROUTED_JOBS, first
