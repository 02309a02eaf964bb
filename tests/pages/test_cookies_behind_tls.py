"""Behind the TLS proxy docs/deploy.md describes, every request reaches Sentinel as plain http: the reviewer's cookies
must still be Secure when the deployment's public URL is https, or a 12-hour review session rides any plain-http
request to that host."""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from sentinel.pages.auth import LOGIN_COOKIE, SESSION_COOKIE
from tests.conftest import clean_env, start_server
from tests.pages.login import TOKEN

KEY = "bo-key-0123456789abcdef"


def _cookies(response: httpx.Response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


@pytest.mark.parametrize(("public_url", "secure"), [("https://sentinel.example.com", True), (None, False)])
def test_the_reviewers_cookies_are_secure_when_the_public_url_is_https(
    tmp_path: Path, public_url: str | None, secure: bool
) -> None:
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_SESSION_SECRET="s" * 32,
        SENTINEL_REVIEWER_KEYS=f"bo:{KEY}",
        **({"SENTINEL_PUBLIC_URL": public_url} if public_url else {}),
    )
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        form = httpx.get(f"{base}/login", timeout=30)
        login_cookie = _cookies(form)[LOGIN_COOKIE]
        token = TOKEN.search(form.text)
        assert token, form.text
        # As the browser does behind the proxy: the cookie sent back, whatever our http client thinks of Secure.
        logged_in = httpx.post(
            f"{base}/login",
            data={"key": KEY, "csrf_token": token.group(1)},
            cookies={LOGIN_COOKIE: login_cookie.value},
            timeout=30,
        )
    finally:
        server.stop()
    assert logged_in.status_code == 303, logged_in.text
    session_cookie = _cookies(logged_in)[SESSION_COOKIE]
    assert bool(login_cookie["secure"]) is secure and bool(session_cookie["secure"]) is secure
    assert session_cookie["httponly"]
