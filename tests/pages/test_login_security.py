"""Who a reviewer is, and for how long: sessions end on logout everywhere, logins come from this site with the form's
token, a bad reviewer-keys line is named at start and skipped later, and visitors see no server paths."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sentinel.pages.auth import SESSION_COOKIE
from tests.conftest import SENTINEL, clean_env, free_port, own_postgres_database, start_server
from tests.pages.login import log_in, login_token
from tests.pages.test_pages import csrf_of

ADMIN_KEY = "admin-key-0123456789abcdef"
BO_KEY = "bo-key-0123456789abcdef"
#: An absolute path on a Unix server, as a leak would show it.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:home|root|tmp|work|var|usr|etc|opt|srv|data|app)/")


@pytest.fixture
def browser(client) -> Iterator[object]:
    """The in-process API seen from a client address of this test's own: its logins count against no other's limit."""
    from fastapi.testclient import TestClient

    yield TestClient(client.app, client=(f"browser-{uuid.uuid4().hex[:8]}", 50000))


def test_a_session_cookie_replayed_after_logout_is_refused(browser) -> None:
    browser.cookies.clear()
    assert log_in(browser, browser.app.state.reviewer_auth.keys()["admin"]).status_code == 303
    cookie = browser.cookies[SESSION_COOKIE]
    page = browser.get("/review")
    assert page.status_code == 200
    out = browser.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")

    browser.cookies.clear()
    browser.cookies.set(SESSION_COOKIE, cookie)  # a copy kept from before the logout
    for path in ("/review", "/dashboard", "/review/stats"):
        replay = browser.get(path, follow_redirects=False)
        assert replay.status_code == 303, path
        assert replay.headers["location"].startswith("/login?next=")
    browser.cookies.clear()


def test_login_from_another_site_or_without_the_form_token_is_refused(browser) -> None:
    browser.cookies.clear()
    key = browser.app.state.reviewer_auth.keys()["admin"]
    token = login_token(browser)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame on any site
        {"Referer": "https://evil.example/login-csrf.html"},
    ):
        refused = browser.post(
            "/login", data={"key": key, "csrf_token": token}, headers=headers, follow_redirects=False
        )
        assert refused.status_code == 403, headers
        assert "not from this site" in refused.text
        assert SESSION_COOKIE not in refused.cookies
    for data in ({"key": key}, {"key": key, "csrf_token": "x" * 32}):
        refused = browser.post("/login", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert "security token" in refused.text and SESSION_COOKIE not in refused.cookies
    # A token fetched by someone else (the attacker's own form) is no good without the cookie it was issued with.
    browser.cookies.clear()
    stolen = browser.post("/login", data={"key": key, "csrf_token": token}, follow_redirects=False)
    assert stolen.status_code == 403
    assert browser.get("/review", follow_redirects=False).status_code == 303

    fresh = login_token(browser)
    same_site = browser.post(
        "/login",
        data={"key": key, "csrf_token": fresh},
        headers={"Origin": "http://testserver", "Referer": "http://testserver/login"},
        follow_redirects=False,
    )
    assert same_site.status_code == 303 and SESSION_COOKIE in same_site.cookies
    browser.cookies.clear()


def test_pages_shown_before_login_name_no_file_or_folder(browser) -> None:
    browser.cookies.clear()
    auth = browser.app.state.reviewer_auth
    secrets_at = [str(auth.keys_file), str(auth.keys_file.resolve()), str(Path(auth.settings.data_dir).resolve())]
    answers = [
        browser.get("/login"),
        log_in(browser, "not-a-key"),
        browser.post("/login", data={"key": "not-a-key"}),
        browser.post("/logout", data={"csrf_token": "x"}, follow_redirects=True),
        browser.get("/review", follow_redirects=True),
    ]
    assert "reviewer-keys" in answers[0].text  # it still says which file holds the key
    for answer in answers:
        for secret in secrets_at:
            assert secret not in answer.text, answer.request.url
        assert not ABSOLUTE_PATH.search(answer.text), answer.request.url
    browser.cookies.clear()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("bo:short-key", "the key of 'bo' is 9 characters; reviewer keys need 16 or more"),
        ("bo " + "b" * 20, "expected 'name:key', found no ':'"),
    ],
)
def test_serve_refuses_to_start_on_a_bad_keys_file_line(tmp_path, line: str, reason: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    keys = data / "reviewer-keys"
    keys.write_text(f"# reviewers\nadmin:{ADMIN_KEY}\n{line}\n")
    result = subprocess.run(
        [SENTINEL, "serve", "--port", str(free_port())],
        env=clean_env(SENTINEL_DATA_DIR=str(data)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {keys}:3: {reason}"]
    assert "short-key" not in result.stderr and "b" * 20 not in result.stderr  # a key is never printed


def test_a_keys_file_that_goes_bad_while_serving_skips_the_line_and_never_500s(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    keys = data / "reviewer-keys"
    keys.write_text(f"admin:{ADMIN_KEY}\nbo:{BO_KEY}\n")
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(data)), tmp_path / "api.log")
    try:
        with httpx.Client(base_url=base, timeout=30) as bo:
            assert log_in(bo, BO_KEY).status_code == 303
            keys.write_text(f"admin:tooshort\nbo:{BO_KEY}\nno colon on this line\n")
            for path in ("/review", "/dashboard", "/review/stats"):
                assert bo.get(path).status_code == 200, path  # bo's session and key are untouched
        with httpx.Client(base_url=base, timeout=30) as admin:
            assert admin.get("/login").status_code == 200
            refused = log_in(admin, "tooshort")
            assert refused.status_code == 401  # the bad line is skipped: its key logs nobody in
            assert log_in(admin, ADMIN_KEY).status_code == 401
        with httpx.Client(base_url=base, timeout=30) as again:
            assert log_in(again, BO_KEY).status_code == 303
        log = server.output()
        assert f"{keys}:1: the key of 'admin' is 8 characters" in log
        assert f"{keys}:3: expected 'name:key'" in log
        assert "tooshort" not in log
    finally:
        server.stop()


def test_logging_out_on_one_api_process_ends_the_session_on_the_others(tmp_path) -> None:
    with own_postgres_database() as url:
        env = clean_env(
            SENTINEL_DATABASE_URL=url, SENTINEL_SESSION_SECRET="s" * 32, SENTINEL_REVIEWER_KEYS=f"bo:{BO_KEY}"
        )
        first, base_a = start_server(env | {"SENTINEL_DATA_DIR": str(tmp_path / "a")}, tmp_path / "a.log")
        try:
            second, base_b = start_server(env | {"SENTINEL_DATA_DIR": str(tmp_path / "b")}, tmp_path / "b.log")
            try:
                with httpx.Client(base_url=base_a, timeout=30) as browser:
                    assert log_in(browser, BO_KEY).status_code == 303
                    cookie = browser.cookies[SESSION_COOKIE]
                    token = csrf_of(browser.get("/review").text)
                    assert httpx.get(f"{base_b}/review", cookies={SESSION_COOKIE: cookie}).status_code == 200
                    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303
                for base in (base_b, base_a):
                    replay = httpx.get(f"{base}/review", cookies={SESSION_COOKIE: cookie})
                    assert replay.status_code == 303 and replay.headers["location"].startswith("/login"), base
            finally:
                second.stop()
        finally:
            first.stop()
