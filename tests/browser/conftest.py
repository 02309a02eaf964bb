"""Shared set-up of the browser tests: Debian's Chromium driven by Playwright, against `sentinel serve` on the
embedded defaults with a fake image provider; screenshots go to test-artifacts/ (kept by CI as artifacts)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import REPO, clean_env, start_server, write_fake_routes
from tests.jobs.test_jobs_redis_postgres import amber_product

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SENTINEL_TEST_ARTIFACTS", REPO / "test-artifacts"))
KEYS = {"ana": "ana-key-0123456789abcdef", "bo": "bo-key-0123456789abcdef"}
SCRIPT_PROMPT = '<script>document.title="pwned"; alert(1)</script> a coffee cup'


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[str, Script]]:
    script = Script()
    tmp = tmp_path_factory.mktemp("browser")
    with serve(create_app(script)) as fake:
        write_fake_routes(tmp / "routes.yaml", fake.url)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_REVIEWER_KEYS=",".join(f"{name}:{key}" for name, key in KEYS.items()),
            FAKE_KEY="sk-fake",
        )
        server, base = start_server(env, tmp / "api.log")
        try:
            yield base, script
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Root in a container has no sandbox; the rest keeps Chromium off a network it cannot reach.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def amber_job(base: str, script: Script, prompt: str) -> dict:
    script.images.append(amber_product())
    created = httpx.post(f"{base}/v1/jobs", json={"task": "product-white-background", "prompt": prompt}, timeout=30)
    assert created.status_code == 202, created.text
    job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=30", timeout=40).json()
    assert (job["state"], job["verdict"]) == ("done", "amber"), job
    return job


def log_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/review")
    assert "/login" in page.url
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")


def screenshot(page, name: str) -> Path:
    """A full-page screenshot kept as a CI artifact under test-artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pytest_collection_modifyitems(items) -> None:
    if Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)")
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)
