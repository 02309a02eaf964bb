"""`sentinel compare` over three models of known quality on a fake OpenAI provider: the ranking, the numbers behind
it, every column served by exactly its pinned candidate, and the HTML matrix with its images."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image, ImageFilter

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import FIXTURES, REPO, SENTINEL, clean_env, start_server
from tests.test_readme import commands as commands_in_readme

PROMPTS = (
    "an astronaut portrait",
    "an astronaut in a studio",
    "an astronaut on a poster",
    "an astronaut for a book cover",
    "an astronaut on a website banner",
)
#: What each model draws for each prompt: per attempt, g(reen) a sharp picture, a(mber) a blurred one, r(ed) one
#: blurred past recognition; a regeneration (the prompt with guidance) takes the next letter.
PLANS = {
    "model-good": ("g", "g", "g", "g", "rg"),
    "model-mixed": ("g", "g", "a", "rg", "rr"),
    "model-poor": ("g", "a", "rr", "rr", "rr"),
}
PRICES = {"model-good": 0.04, "model-mixed": 0.02, "model-poor": 0.01}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def pictures() -> dict[str, bytes]:
    """256 px pictures the text-to-image panel judges green, amber (blurred) and red (blurred past use)."""
    photo = Image.open(FIXTURES / "text-to-image" / "good-astronaut-512.jpg").convert("RGB")
    photo = photo.resize((256, 256), Image.Resampling.LANCZOS)
    return {
        "g": _png(photo),
        # Soft (a radius of 1.5 at 256 px): amber, a person decides; from about 2 the edges are smeared past use.
        "a": _png(photo.filter(ImageFilter.GaussianBlur(1.5))),
        "r": _png(photo.filter(ImageFilter.GaussianBlur(8))),
    }


def picker() -> Any:
    """The fake's image for a request, by its model and prompt alone: the verdicts never depend on the order in which
    concurrent jobs reach the fake."""
    drawn = pictures()

    def pick(body: dict[str, Any]) -> bytes:
        prompt = str(body["prompt"])
        index = next(i for i, p in enumerate(PROMPTS) if prompt.startswith(p))
        plan = PLANS[str(body["model"])][index]
        return drawn[plan[min(len(plan) - 1, 0 if prompt == PROMPTS[index] else 1)]]

    return pick


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], Script]]:
    tmp = tmp_path_factory.mktemp("compare")
    script = Script(pick=picker())
    with serve(create_app(script)) as fake:
        routes = {
            "providers": {
                "fake": {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key_env": "FAKE_KEY"},
            },
            # One public model over all three: only a pin keeps each column on its own candidate.
            "models": {
                "trio": {
                    "sizes": ["256x256"],
                    "candidates": [{"target": f"fake:{m}", "cost_per_image": p} for m, p in PRICES.items()],
                }
            },
            "default_model": "trio",
            "max_passes": 1,
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            FAKE_KEY="sk-fake",
        )
        yield tmp, env, script


def write_suite(path: Path, **fields: Any) -> Path:
    suite = {
        "name": "astronauts",
        "task": "text-to-image",
        # Worst first: the ranking must not be the suite's order.
        "models": ["fake:model-poor", "fake:model-good", "fake:model-mixed"],
        "params": {"width": 256, "height": 256},
        "prompts": list(PROMPTS),
        "max_attempts": 2,
        "concurrency": 4,
    } | fields
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def compare(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SENTINEL, "compare", *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_three_models_are_ranked_by_how_often_they_pass(setup) -> None:
    tmp, env, script = setup
    suite = write_suite(tmp / "suite.yaml")
    result = compare(env, str(suite), "--json", str(tmp / "out.json"), "--html", str(tmp / "out.html"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp / "out.json").read_text())

    ranked = [(m["rank"], m["model"]) for m in report["models"]]
    assert ranked == [(1, "fake:model-good"), (2, "fake:model-mixed"), (3, "fake:model-poor")]
    # The table lists them in the same order.
    rows = [line for line in result.stdout.splitlines() if "fake:model-" in line]
    assert [re.search(r"fake:model-\w+", row).group(0) for row in rows] == [m for _, m in ranked]

    good, mixed, poor = report["models"]
    assert (good["green"], good["amber"], good["red"]) == (5, 0, 0)
    assert (mixed["green"], mixed["amber"], mixed["red"]) == (3, 1, 1)
    assert (poor["green"], poor["amber"], poor["red"]) == (1, 1, 3)
    assert [m["first_attempt_green_share"] for m in (good, mixed, poor)] == [0.8, 0.4, 0.2]
    assert [m["attempts"] for m in (good, mixed, poor)] == [6, 7, 8]
    assert good["attempts_per_green"] == pytest.approx(1.2)
    assert mixed["attempts_per_green"] == pytest.approx(7 / 3)
    assert poor["attempts_per_green"] == pytest.approx(8.0)
    # Every attempt that delivered an image is paid at its candidate's price.
    assert [m["cost_usd"] for m in (good, mixed, poor)] == pytest.approx([0.24, 0.14, 0.08])
    assert all(m["latency_p50_ms"] > 0 and m["latency_p95_ms"] >= m["latency_p50_ms"] for m in report["models"])
    # Pinned: each column was drawn by its own candidate only, although the route lists all three.
    assert [m["served_by"] for m in (good, mixed, poor)] == [
        ["fake:model-good"],
        ["fake:model-mixed"],
        ["fake:model-poor"],
    ]
    asked = {r["body"]["model"] for r in script.requests if r["path"] == "/v1/images/generations"}
    assert asked == set(PLANS)

    runs = report["runs"]
    assert len(runs) == 15 and all(r["job_id"] and r["error"] is None for r in runs)
    red = next(r for r in runs if r["model"] == "fake:model-poor" and r["prompt_index"] == 2)
    assert red["verdict"] == "red" and any(c.startswith("sharp") for c in red["failing_criteria"])

    page = (tmp / "out.html").read_text()
    cells = re.findall(r'<td class="cell" data-model="([^"]+)" data-prompt="(\d)">(.*?)</td>', page, flags=re.S)
    assert len(cells) == 15
    assert all(body.count('src="data:image/jpeg;base64,') == 1 for _, _, body in cells)
    headers = re.findall(r'<th class="model" data-model="([^"]+)"', page)
    assert headers == [m for _, m in ranked]
    poor_red = next(body for model, prompt, body in cells if model == "fake:model-poor" and prompt == "2")
    assert 'class="shot red"' in poor_red and "sharp" in poor_red


@pytest.fixture(scope="module")
def server(setup) -> Iterator[str]:
    """`sentinel serve` on the same routing and data folder, for --server."""
    tmp, env, _ = setup
    running, base = start_server(env, tmp / "serve.log")
    try:
        yield base
    finally:
        running.stop()


def test_on_a_server_its_jobs_are_ordinary_jobs_and_json_goes_to_stdout(setup, server) -> None:
    tmp, env, _ = setup
    suite = write_suite(tmp / "small.yaml", models=["fake:model-mixed"], prompts=list(PROMPTS[2:4]))
    result = compare(env, str(suite), "--server", server, "--json", "-")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["server"] == server
    [mixed] = report["models"]
    assert (mixed["runs"], mixed["green"], mixed["amber"], mixed["red"]) == (2, 1, 1, 0)
    listed = httpx.get(f"{server}/v1/jobs", params={"task": "text-to-image"}).json()["data"]
    assert {r["job_id"] for r in report["runs"]} <= {job["id"] for job in listed}


def test_an_unknown_model_is_named_with_its_line_before_any_job(setup, server) -> None:
    tmp, env, script = setup
    before = len(script.requests)
    suite = write_suite(tmp / "unknown.yaml", models=["fake:model-good", "fake:model-gone"])
    result = compare(env, str(suite), "--server", server)
    assert result.returncode == 2
    assert f"{suite}:5: models[1]: 'fake:model-gone' is no candidate" in result.stderr, result.stderr
    assert "fake:model-good" in result.stderr  # the candidates it could have named
    assert len(script.requests) == before


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"models": []}, "3: models: List should have at least 1 item"),
        ({"models": ["a", "a"]}, "4: models: listed twice: a"),
        (
            {"prompts": [{"prompt": "x", "parms": {}}]},
            "12: prompts[0].parms: unknown key 'parms'; did you mean 'params'?",
        ),
        ({"prompts": ["a cat", "  "]}, "12: prompts[1].prompt: the prompt is blank"),
        ({"max_attempts": 0}, "16: max_attempts: Input should be greater than or equal to 1"),
        ({"seeds": [1, 1]}, "19: seeds: listed twice: 1"),
        ({"seeds": [1, 2**31]}, "19: seeds: seed 2147483648 is not in 0..2147483647"),
        ({"repeats": 2, "seeds": [1, 2]}, "20: seeds: give either seeds (one run per seed) or repeats"),
        ({"colour": "red"}, "18: colour: unknown key 'colour' (known here: "),
    ],
)
def test_a_bad_suite_is_refused_naming_file_line_and_field(tmp_path, fields, expected) -> None:
    suite = write_suite(tmp_path / "bad.yaml", **fields)
    result = compare(clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")), "--check", str(suite))
    assert result.returncode == 2
    assert f"error: {suite}:{expected}" in result.stderr, result.stderr


def test_a_suite_with_seeds_runs_each_prompt_once_per_seed_on_each_model(setup) -> None:
    tmp, env, _ = setup
    suite = write_suite(tmp / "seeded.yaml", seeds=[11, 12])
    result = compare(env, "--check", str(suite))
    assert result.returncode == 0, result.stderr
    assert "valid, 30 jobs (3 models × 5 prompts × 2 run(s))" in result.stdout


def test_the_readme_suite_is_the_example_file_and_its_check_line_passes(tmp_path) -> None:
    readme = (REPO / "README.md").read_text()
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if b.startswith("# compare-suite")]
    assert block == (REPO / "examples" / "compare-suite.yaml").read_text()
    [line] = [c for c in commands_in_readme(".venv/bin/sentinel compare") if "--check" in c]
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run(["bash", "-c", line], cwd=REPO, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "examples/compare-suite.yaml: valid, 24 jobs (4 models × 3 prompts × 2 run(s))" in result.stdout


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Every job of these would be refused by POST /v1/jobs: the suite's mistake, found before any is sent.
        ({"task": "text-render"}, ": params: task 'text-render' needs param 'text'"),
        ({"params": {"width": 256, "height": 256, "colour": "red"}}, ": params.colour: unknown param 'colour'"),
        ({"params": {"width": 4, "height": 256}}, ": params.width: param 'width' must be ≥"),
        (
            {"prompts": ["a cat", {"prompt": "a dog", "params": {"height": 99999}}]},
            ": prompts[1].params.height: param 'height' must be ≤",
        ),
        ({"models": ["fake:model-good", "nope-model"]}, ": models[1]: 'nope-model' is no model"),
    ],
)
def test_check_finds_what_the_server_would_refuse_and_the_run_sends_nothing(setup, fields, expected) -> None:
    tmp, env, script = setup
    suite = write_suite(tmp / "refused.yaml", **fields)
    checked = compare(env, "--check", str(suite))
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert f"error: {suite}:" in checked.stderr and expected in checked.stderr, checked.stderr
    before = len(script.requests)
    ran = compare(env, str(suite))
    assert ran.returncode == 2 and expected in ran.stderr, ran.stderr
    assert len(script.requests) == before
