"""API keys, rate limits and spend caps through real `sentinel serve` processes, keys made with the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from openai import OpenAI
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import SpendEntry, SpendPeriod
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import (
    REDIS_URL,
    SENTINEL,
    clean_env,
    delete_redis_keys,
    own_postgres_database,
    start_server,
)
from tests.pages.login import log_in, login_token

PRICE = 0.01


def routes_file(path: Path, fake_url: str) -> Path:
    routes = {
        "providers": {
            "fake": {"kind": "openai", "base_url": f"{fake_url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 5}
        },
        "models": {"house": {"candidates": [{"target": "fake:gpt-image-1"}], "cost_per_image": PRICE}},
        "default_model": "house",
        "max_passes": 1,
    }
    path.write_text(yaml.safe_dump(routes))
    return path


def create_key(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([SENTINEL, "keys", "create", *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "shown once" in result.stderr
    return result.stdout.strip()


@pytest.fixture
def fake() -> Iterator[tuple[str, Script]]:
    script = Script()
    with serve(create_app(script)) as server:
        yield server.url, script


def embedded_env(tmp_path: Path, fake_url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_ROUTES=str(routes_file(tmp_path / "routes.yaml", fake_url)),
        SENTINEL_API_KEY_CACHE_SECONDS="0",
        FAKE_KEY="sk-fake",
        **extra,
    )


def generate(base: str, token: str | None, **extra) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"prompt": "a cup", "response_format": "url", **extra}
    return httpx.post(f"{base}/v1/images/generations", json=body, headers=headers, timeout=30)


def test_open_on_loopback_until_the_first_key_then_every_call_needs_one(tmp_path, fake) -> None:
    env = embedded_env(tmp_path, fake[0])
    server, base = start_server(env, tmp_path / "api.log")
    try:
        assert "OPEN SERVER" in server.output()
        assert generate(base, None).status_code == 200  # the quick start: no key, loopback only

        token = create_key(env, "--name", "ci-bot", "--scopes", "generate")
        missing = generate(base, None)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "invalid_api_key"
        assert "sentinel keys create" in missing.json()["error"]["message"]
        assert generate(base, "snt_wrong").status_code == 401

        # The OpenAI SDK's api_key is the Bearer key, as is.
        client = OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)
        assert client.images.generate(model="house", prompt="a cup", response_format="url").data[0].url

        forbidden = httpx.post(
            f"{base}/v1/evaluations", headers={"Authorization": f"Bearer {token}"}, data={"task": "text-to-image"}
        )
        assert forbidden.status_code == 403
        assert "this call needs 'evaluate'" in forbidden.json()["error"]["message"]

        revoke = subprocess.run([SENTINEL, "keys", "revoke", "ci-bot"], env=env, capture_output=True, text=True)
        assert revoke.returncode == 0, revoke.stderr
        assert generate(base, token).status_code == 401
        listed = subprocess.run([SENTINEL, "keys", "list"], env=env, capture_output=True, text=True).stdout
        assert "ci-bot" in listed and "revoked" in listed and token not in listed
    finally:
        server.stop()


def test_any_other_bind_address_requires_keys_even_before_the_first(tmp_path, fake) -> None:
    env = embedded_env(tmp_path, fake[0], SENTINEL_HOST="0.0.0.0")
    server, base = start_server(env, tmp_path / "api.log")
    try:
        assert "OPEN SERVER" not in server.output()
        assert "none exists yet, so every /v1 call is refused" in server.output()
        assert generate(base, None).status_code == 401
        assert httpx.get(f"{base}/healthz").status_code == 200  # probes stay open
    finally:
        server.stop()


def test_the_host_flag_requires_keys_as_the_variable_does(tmp_path, fake) -> None:
    """The production commands bind with `serve --host 0.0.0.0`: the flag, not only SENTINEL_HOST, must close /v1
    until a key exists (the settings were read before the command set it, and the app ran open to the network)."""
    env = embedded_env(tmp_path, fake[0])
    server, base = start_server(env, tmp_path / "api.log", args=["--host", "0.0.0.0"])
    try:
        assert "OPEN SERVER" not in server.output()
        assert "none exists yet, so every /v1 call is refused" in server.output()
        assert generate(base, None).status_code == 401
    finally:
        server.stop()


def test_a_keys_rate_limit_answers_429_with_retry_after(tmp_path, fake) -> None:
    env = embedded_env(tmp_path, fake[0])
    token = create_key(env, "--name", "slow-lane", "--scopes", "generate", "--rpm", "3")
    server, base = start_server(env, tmp_path / "api.log")
    try:
        answers = [generate(base, token) for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        refused = answers[3]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert "3 requests per minute" in refused.json()["error"]["message"]
    finally:
        server.stop()


def test_a_login_through_an_api_key_with_the_review_scope(tmp_path, fake) -> None:
    env = embedded_env(tmp_path, fake[0])
    reviewer = create_key(env, "--name", "rita", "--scopes", "review")
    generator = create_key(env, "--name", "gen", "--scopes", "generate")
    server, base = start_server(env, tmp_path / "api.log")
    try:
        with httpx.Client(base_url=base) as browser:
            assert log_in(browser, generator).status_code == 401
            login = log_in(browser, reviewer)
            assert login.status_code == 303
            page = browser.get("/review")
            assert page.status_code == 200 and "rita" in page.text
    finally:
        server.stop()


@pytest.fixture
def production(tmp_path, fake) -> Iterator[dict[str, str]]:
    """Redis + a PostgreSQL database of this test's own: keys made here must not turn on auth for other tests."""
    with own_postgres_database() as postgres_url:
        yield from _production_env(postgres_url, tmp_path, fake)


def _production_env(postgres_url: str, tmp_path: Path, fake: tuple[str, Script]) -> Iterator[dict[str, str]]:
    namespace = f"sentinel-test-{uuid.uuid4().hex[:10]}"
    env = embedded_env(
        tmp_path,
        fake[0],
        SENTINEL_DATABASE_URL=postgres_url,
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=namespace,
    )
    yield env
    delete_redis_keys(namespace)


@pytest.mark.integration
def test_rate_limits_are_shared_by_every_api_process(production, tmp_path) -> None:
    token = create_key(production, "--name", f"shared-{uuid.uuid4().hex[:6]}", "--scopes", "generate", "--rpm", "6")
    first, base_a = start_server(production, tmp_path / "a.log")
    second, base_b = start_server(production, tmp_path / "b.log")
    try:
        answers = [generate(base, token).status_code for base in [base_a, base_b] * 5]
        assert Counter(answers) == {200: 6, 429: 4}
        assert answers[:6] == [200] * 6
    finally:
        first.stop()
        second.stop()


async def hundred_at_once(base: str, token: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        body = {"prompt": "a cup", "response_format": "url"}
        return list(
            await asyncio.gather(*(client.post(f"{base}/v1/images/generations", json=body) for _ in range(100)))
        )


@pytest.mark.parametrize("layout", ["embedded", "production"])
def test_a_spend_cap_holds_under_100_concurrent_requests(request, tmp_path, fake, layout) -> None:
    url, script = fake
    env = request.getfixturevalue("production") if layout == "production" else embedded_env(tmp_path, url)
    cap = 10 * PRICE
    token = create_key(
        env,
        "--name",
        f"capped-{uuid.uuid4().hex[:6]}",
        "--spend-cap",
        str(cap),
        "--period",
        "day",
        "--rpm",
        "1000",
        "--scopes",
        "generate",
    )
    server, base = start_server(env, tmp_path / "api.log")
    try:
        answers = asyncio.run(hundred_at_once(base, token))
    finally:
        server.stop()
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 10, 402: 90}, statuses
    assert len(script.requests) == 10  # no provider call beyond the cap
    refused = next(a for a in answers if a.status_code == 402).json()["error"]
    assert refused["code"] == "spend_cap_reached" and "daily spend cap" in refused["message"]

    # The ledger balances: nothing left reserved, and the entries add up to the period's totals.
    database = env.get("SENTINEL_DATABASE_URL") or f"sqlite:///{tmp_path / 'data' / 'sentinel.db'}"
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine) as session:
        [period] = session.exec(select(SpendPeriod)).all()
        entries = session.exec(select(SpendEntry).where(SpendEntry.key_id == period.key_id)).all()
    engine.dispose()
    assert period.spent == pytest.approx(cap) and period.reserved == pytest.approx(0)
    assert sum(e.spent for e in entries) == pytest.approx(period.spent)
    assert sum(e.reserved for e in entries) == pytest.approx(0)
    assert Counter(e.kind for e in entries) == {"reserve": 10, "settle": 10}


def test_callers_without_a_key_are_limited_per_address_and_logins_more_tightly(tmp_path, fake) -> None:
    env = embedded_env(tmp_path, fake[0], SENTINEL_ANONYMOUS_RPM="4", SENTINEL_LOGIN_ATTEMPTS_PER_MINUTE="2")
    server, base = start_server(env, tmp_path / "api.log")
    try:
        with httpx.Client(base_url=base) as browser:
            # The login form (its CSRF token) is the first of the address's 4 requests this minute.
            form = {"key": "guess", "csrf_token": login_token(browser)}
            pages = [browser.get("/v1/rubrics").status_code for _ in range(4)]
            assert pages == [200, 200, 200, 429]
            assert browser.get("/healthz").status_code == 200  # probes are never limited
            logins = [browser.post("/login", data=form).status_code for _ in range(3)]
            assert logins == [401, 401, 429]
            refused = browser.post("/login", data=form)
        assert "address 127.0.0.1" in refused.json()["error"]["message"]
    finally:
        server.stop()


def test_a_second_active_key_of_the_same_name_is_refused_naming_the_first(tmp_path) -> None:
    """A key's name is the reviewer its decisions are recorded under: two active keys named "admin" could not be
    told apart in the review history (nor by `keys revoke admin`)."""
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    create_key(env, "--name", "admin")
    again = subprocess.run(
        [SENTINEL, "keys", "create", "--name", "admin"], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 2, again.stderr
    assert "an active key named 'admin' already exists" in again.stderr
    revoked = subprocess.run([SENTINEL, "keys", "revoke", "admin"], env=env, capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    assert create_key(env, "--name", "admin")  # the name is free again once its key is revoked
