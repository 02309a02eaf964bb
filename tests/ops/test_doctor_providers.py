"""`sentinel doctor --providers` and SENTINEL_CHECK_PROVIDERS: each candidate of the routing file asked of its
provider's own model listing (fake servers with the real listing endpoints), a table of what each said, exit 1 and
no start when one is missing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from sentinel_fakes import fal, google, openai, replicate, stability
from sentinel_fakes.server import Script, serve
from tests.conftest import SENTINEL, clean_env, free_port

KINDS = {"openai": openai, "google": google, "replicate": replicate, "fal": fal, "stability": stability}
#: One candidate per provider that its listing has, and one that it does not (scripted below).
LIVE = {
    "openai": "gpt-image-2.6-flare",
    "google": "gemini-nano-banana-2.1",
    "replicate": "black-forest-labs/flux-schnell",
    "fal": "fal-ai/flux/dev",
}
GONE = {
    "openai": "gpt-image-1",
    "google": "imagen-4.0-generate-001",
    "replicate": "stability-ai/sdxl-retired",
    "fal": "fal-ai/flux-retired/dev",
}


class Fakes(NamedTuple):
    urls: dict[str, str]
    scripts: dict[str, Script]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    scripts = {kind: Script() for kind in KINDS}
    with (
        serve(openai.create_app(scripts["openai"])) as openai_fake,
        serve(google.create_app(scripts["google"])) as google_fake,
        serve(replicate.create_app(scripts["replicate"])) as replicate_fake,
        serve(fal.create_app(scripts["fal"])) as fal_fake,
        serve(stability.create_app(scripts["stability"])) as stability_fake,
    ):
        urls = {
            "openai": f"{openai_fake.url}/v1",
            "google": google_fake.url,
            "replicate": replicate_fake.url,
            "fal": fal_fake.url,
            "stability": stability_fake.url,
        }
        yield Fakes(urls, scripts)


def write_routes(path: Path, fakes: Fakes, models: dict[str, list[str]]) -> Path:
    providers: dict[str, Any] = {"local": {"kind": "local"}}
    for kind, url in fakes.urls.items():
        providers[kind] = {"kind": kind, "base_url": url, "api_key_env": f"DOCTOR_TEST_{kind.upper()}_KEY"}
    routes = {
        "providers": providers,
        "models": {
            name: {"candidates": [{"target": target} for target in targets]} for name, targets in models.items()
        },
        "default_model": next(iter(models)),
    }
    path.write_text(yaml.safe_dump(routes))
    return path


def environment(tmp_path: Path, routes: Path, **extra: str) -> dict[str, str]:
    keys = {f"DOCTOR_TEST_{kind.upper()}_KEY": "test-key" for kind in KINDS}
    return clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(routes), COLUMNS="200", **keys, **extra
    )


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SENTINEL, "doctor", "--providers", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(autouse=True)
def retired(fakes: Fakes) -> None:
    for kind, model in GONE.items():
        fakes.scripts[kind].missing_models = {model}


def test_every_candidate_listed_passes(fakes: Fakes, tmp_path: Path) -> None:
    models = {
        "house": ["local:procedural", *(f"{kind}:{model}" for kind, model in LIVE.items())],
        "core": ["stability:stable-image-core"],
    }
    env = environment(tmp_path, write_routes(tmp_path / "routes.yaml", fakes, models))
    answer = doctor(env, "--json")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    states = {check["target"]: check["state"] for check in json.loads(answer.stdout)}
    assert states == {
        "local:procedural": "listed",
        **{f"{kind}:{model}": "listed" for kind, model in LIVE.items()},
        "stability:stable-image-core": "not checkable",
    }
    # Each provider was asked at its real listing endpoint.
    assert any(r["path"] == "/v1/models" and r["method"] == "GET" for r in fakes.scripts["openai"].requests)
    assert any(r["path"] == "/v1beta/models" for r in fakes.scripts["google"].requests)
    assert any(r["path"] == "/v1/models/black-forest-labs/flux-schnell" for r in fakes.scripts["replicate"].requests)
    assert any(
        r["path"] == "/v1/models" and r["body"] == {"endpoint_id": "fal-ai/flux/dev"}
        for r in fakes.scripts["fal"].requests
    )


def test_a_missing_candidate_is_shown_and_exits_1(fakes: Fakes, tmp_path: Path) -> None:
    models = {
        "house": [f"{kind}:{LIVE[kind]}" for kind in LIVE],
        "old": [f"{kind}:{GONE[kind]}" for kind in GONE],
    }
    env = environment(tmp_path, write_routes(tmp_path / "routes.yaml", fakes, models))
    answer = doctor(env)
    assert answer.returncode == 1, answer.stdout + answer.stderr
    lines = answer.stdout.splitlines()
    for kind, model in GONE.items():
        [row] = [line for line in lines if line.split()[:1] == [f"{kind}:{model}"]]
        assert "MISSING" in row and "old" in row
    for kind, model in LIVE.items():
        [row] = [line for line in lines if line.split()[:1] == [f"{kind}:{model}"]]
        assert "listed" in row and "house" in row
    assert "4 missing" in answer.stdout


def test_a_google_model_without_the_method_sentinel_calls_is_missing(fakes: Fakes, tmp_path: Path) -> None:
    fakes.scripts["google"].missing_models = set()
    env = environment(tmp_path, write_routes(tmp_path / "routes.yaml", fakes, {"m": ["google:text-embedding-004"]}))
    answer = doctor(env, "--json")
    assert answer.returncode == 1
    [check] = json.loads(answer.stdout)
    assert check["state"] == "missing" and "generateContent" in check["detail"]


def test_a_provider_without_its_key_or_refusing_it_is_not_a_missing_model(fakes: Fakes, tmp_path: Path) -> None:
    models = {"house": [f"openai:{GONE['openai']}", f"replicate:{LIVE['replicate']}"]}
    env = environment(tmp_path, write_routes(tmp_path / "routes.yaml", fakes, models))
    del env["DOCTOR_TEST_OPENAI_KEY"]
    answer = doctor(env, "--json")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    states = {check["target"]: (check["state"], check["detail"]) for check in json.loads(answer.stdout)}
    assert states[f"openai:{GONE['openai']}"] == ("not configured", "DOCTOR_TEST_OPENAI_KEY is not set")
    assert states[f"replicate:{LIVE['replicate']}"][0] == "listed"


def test_serve_with_the_check_on_refuses_to_start_with_a_missing_candidate(fakes: Fakes, tmp_path: Path) -> None:
    models = {"house": ["local:procedural", f"fal:{GONE['fal']}"]}
    env = environment(tmp_path, write_routes(tmp_path / "routes.yaml", fakes, models), SENTINEL_CHECK_PROVIDERS="true")
    answer = subprocess.run(
        [SENTINEL, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert answer.returncode == 1, answer.stdout + answer.stderr
    assert f"fal:{GONE['fal']}" in answer.stderr and "not starting" in answer.stderr
