"""Logging in as a browser does: fetch the form (its CSRF token comes with a cookie), then send it back."""

from __future__ import annotations

import re

import httpx

#: The login form's CSRF field (the pages' forms all use this name).
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_token(browser: httpx.Client) -> str:
    """The login form's token; the client keeps the cookie it is bound to."""
    form = browser.get("/login", follow_redirects=False)
    assert form.status_code == 200, form.text
    match = TOKEN.search(form.text)
    assert match, "no CSRF token on the login form"
    return match.group(1)


def log_in(browser: httpx.Client, key: str, next: str | None = None) -> httpx.Response:
    data = {"key": key, "csrf_token": login_token(browser)} | ({"next": next} if next else {})
    return browser.post("/login", data=data, follow_redirects=False)
