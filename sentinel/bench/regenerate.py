"""``sentinel bench regenerate``: does the regeneration loop converge, and does it leave good images alone?

Runs ``sentinel serve`` on the embedded defaults with the offline ``local`` provider and posts jobs whose first
attempt has a defect that a regeneration can fix, if the guidance says what to fix:

- text-render jobs whose prompt names no text ("a shop sign"): the first sign is empty, so the expected text is
  absent; the fix template puts the text into the next prompt;
- product jobs asking for a grey or coloured backdrop: the fix asks for a pure white background;
- text-to-image jobs on a route whose first candidate returns a blank image (route ``inject: blank``), with
  ``rotate_on_regenerate`` so the next attempt goes to a working candidate;

and control jobs whose first attempt is already right, to count how often a good first attempt is judged red
(a regeneration the customer pays for and did not need). Per task it reports the share of jobs green within
``max_attempts``, the attempts per job, and those false reds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import deployment, run_job

#: Phrases a shop sign must show: digits, punctuation, mixed case.
PHRASES = ("OPEN 24/7", "BUY 2 GET 1", "SALE 50% OFF", "Fresh Bread", "EXIT", "No Parking")
#: Backdrops a product shot was wrongly asked on.
BACKDROPS = ("grey", "blue", "green", "brown", "pink", "yellow")
#: Subjects of the text-to-image jobs.
SUBJECTS = ("a red ball", "a blue star", "a green tree", "an orange planet", "a purple box", "a yellow flower")

#: The embedded default routes, plus a model whose first candidate answers with a blank image.
ROUTES = """\
providers:
  local: {kind: local}
  broken: {kind: local}
default_model: sentinel-local
models:
  sentinel-local:
    sizes: ["1024x1024", "1536x1024"]
    candidates:
      - target: local:procedural
  blank-first:
    description: A provider that answers with a blank image, then one that works.
    rotate_on_regenerate: true
    sizes: ["1024x1024"]
    candidates:
      - {target: "broken:procedural", params: {inject: blank}}
      - target: local:procedural
"""


@dataclass(frozen=True)
class Scenario:
    """One kind of job: what is asked, and whether its first attempt is known to be good."""

    name: str
    task: str
    bodies: Callable[[int], list[dict[str, Any]]]
    first_attempt_good: bool


def _text_missing(count: int) -> list[dict[str, Any]]:
    return [
        {"task": "text-render", "prompt": "a shop sign", "params": {"text": PHRASES[i % len(PHRASES)]}}
        for i in range(count)
    ]


def _text_control(count: int) -> list[dict[str, Any]]:
    return [
        {
            "task": "text-render",
            "prompt": f'a shop sign that says "{PHRASES[i % len(PHRASES)]}"',
            "params": {"text": PHRASES[i % len(PHRASES)]},
        }
        for i in range(count)
    ]


def _product_backdrop(count: int) -> list[dict[str, Any]]:
    return [
        {"task": "product-white-background", "prompt": f"a red cup on a {BACKDROPS[i % len(BACKDROPS)]} background"}
        for i in range(count)
    ]


def _product_control(count: int) -> list[dict[str, Any]]:
    colours = ("red", "blue", "green", "orange", "purple", "black")
    return [
        {"task": "product-white-background", "prompt": f"a {colours[i % len(colours)]} bottle on a white background"}
        for i in range(count)
    ]


def _blank_first(count: int) -> list[dict[str, Any]]:
    return [
        {
            "task": "text-to-image",
            "prompt": SUBJECTS[i % len(SUBJECTS)],
            "model": "blank-first",
            "params": {"width": 1024, "height": 1024},
        }
        for i in range(count)
    ]


def _t2i_control(count: int) -> list[dict[str, Any]]:
    return [
        {"task": "text-to-image", "prompt": SUBJECTS[i % len(SUBJECTS)], "params": {"width": 1024, "height": 1024}}
        for i in range(count)
    ]


SCENARIOS = (
    Scenario("text missing from the prompt", "text-render", _text_missing, False),
    Scenario("text in the prompt (control)", "text-render", _text_control, True),
    Scenario("product on a coloured backdrop", "product-white-background", _product_backdrop, False),
    Scenario("product on white (control)", "product-white-background", _product_control, True),
    Scenario("blank first output", "text-to-image", _blank_first, False),
    Scenario("text-to-image (control)", "text-to-image", _t2i_control, True),
)


def _summarise(scenario: Scenario, jobs: list[dict[str, Any]], max_attempts: int) -> dict[str, Any]:
    attempts = [len(j["attempts"]) for j in jobs]
    first = [j["attempts"][0] for j in jobs if j["attempts"]]
    green = [j for j in jobs if j["verdict"] == "green"]
    row: dict[str, Any] = {
        "scenario": scenario.name,
        "task": scenario.task,
        "jobs": len(jobs),
        "green": len(green),
        "green_share": len(green) / len(jobs) if jobs else 0.0,
        "mean_attempts": statistics.mean(attempts) if attempts else 0.0,
        "max_attempts": max_attempts,
        # "no image": the router refused the first output itself (a blank image reads as a hidden content filter).
        "first_attempt_verdicts": {
            label: sum(a["verdict"] == verdict for a in first)
            for label, verdict in (("green", "green"), ("amber", "amber"), ("red", "red"), ("no image", None))
        },
        "not_green": [
            {"id": j["id"], "verdict": j["verdict"], "state": j["state"], "last_summary": j["attempts"][-1]["summary"]}
            for j in jobs
            if j["verdict"] != "green"
        ],
    }
    if scenario.first_attempt_good:
        row["good_first_attempts_red"] = row["first_attempt_verdicts"]["red"]
    else:
        # A defective first attempt that was not judged red would not have been regenerated.
        row["defective_first_attempts_not_red"] = (
            row["first_attempt_verdicts"]["green"] + row["first_attempt_verdicts"]["amber"]
        )
        # What the second attempt was asked: the caller's prompt plus the fixes.
        row["example_regeneration_prompt"] = next(
            (j["attempts"][1]["prompt"] for j in jobs if len(j["attempts"]) > 1), None
        )
    return row


def run(
    jobs_per_scenario: int = 6, max_attempts: int = 3, concurrency: int = 4, progress: Progress = quiet
) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-regenerate-") as tmp:
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(ROUTES)
        with (
            deployment(None, None, {"SENTINEL_ROUTES": str(routes)}) as running,
            httpx.Client(base_url=running.base, timeout=120) as client,
            ThreadPoolExecutor(concurrency) as pool,
        ):
            rows = []
            for scenario in SCENARIOS:
                bodies = scenario.bodies(jobs_per_scenario)
                jobs = list(pool.map(lambda body: run_job(client, body | {"max_attempts": max_attempts}), bodies))
                rows.append(_summarise(scenario, jobs, max_attempts))
                progress(f"{rows[-1]['scenario']}: {rows[-1]['green']} of {rows[-1]['jobs']} jobs green")
    tasks = []
    for task in dict.fromkeys(s.task for s in SCENARIOS):
        fixable = [r for r in rows if r["task"] == task and "defective_first_attempts_not_red" in r]
        controls = [r for r in rows if r["task"] == task and "good_first_attempts_red" in r]
        jobs = sum(r["jobs"] for r in fixable)
        tasks.append(
            {
                "task": task,
                "fixable_jobs": jobs,
                "green_within_max_attempts": sum(r["green"] for r in fixable) / jobs if jobs else 0.0,
                "mean_attempts": statistics.mean(r["mean_attempts"] for r in fixable) if fixable else 0.0,
                "good_first_attempts": sum(r["jobs"] for r in controls),
                "good_first_attempts_red": sum(r["good_first_attempts_red"] for r in controls),
            }
        )
    return {"seconds": round(time.perf_counter() - started, 1), "scenarios": rows, "tasks": tasks}
