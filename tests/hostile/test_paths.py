"""Hostile ids and query strings: path traversal, overlong ids, NUL characters. Each is a 4xx, and no byte outside
the blob store (nor any source file) is ever served."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.conftest import png_bytes
from tests.hostile.rawhttp import exchange, request_head

SECRET = b"this file lies outside the blob store and must never be served\n"

TRAVERSALS = [
    "/v1/images/..%2F..%2Fetc%2Fpasswd",
    "/v1/images/..%2f..%2f..%2fsecret.txt",
    "/v1/images/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/v1/images/../x",
    "/v1/images/../../secret.txt",
    "/v1/images/..%5C..%5Csecret.txt",
    "/v1/images/....//....//secret.txt",
    "/v1/images/%252e%252e%252fsecret.txt",
    "/v1/images/%c0%ae%c0%ae%c0%afsecret.txt",
    "/v1/images//etc/passwd",
    "/v1/images/%2Fetc%2Fpasswd",
    "/v1/images/" + "..%2F" * 12 + "x",
    "/v1/evaluations/..%2F..%2Fsecret.txt",
    "/v1/jobs/..%2F..%2Fsecret.txt",
    "/static/..%2F..%2Fsecret.txt",
    "/static/../../secret.txt",
    "/static/..%2F..%2Fsettings.py",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
]


@pytest.fixture(scope="module")
def planted(strict_api) -> tuple[str, str]:
    """A secret next to the blob store, and a real image whose id a traversal could try to dress up."""
    base, data = strict_api
    (data / "secret.txt").write_bytes(SECRET)
    (data.parent / "secret.txt").write_bytes(SECRET)
    image = png_bytes(80, 80)
    created = httpx.post(
        f"{base}/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("a.png", image)}, timeout=30
    )
    assert created.status_code == 202, created.text
    return base, hashlib.sha256(image).hexdigest()


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_404_and_serves_nothing_outside(planted, path) -> None:
    base, _ = planted
    # Sent byte for byte: an HTTP client library would normalise the dots away before they reach the server.
    response = exchange(base, request_head("GET", path))
    assert response.status in (400, 404), (path, response.status, response.body[:200])
    assert SECRET not in response.body
    assert b"root:" not in response.body
    assert b"[project]" not in response.body and b"BaseSettings" not in response.body


@pytest.mark.parametrize(
    "suffix",
    [
        "../{id}",
        "{id}/..",
        "{id}%2F..%2F..%2Fsecret.txt",
        "{id}%00.png",
        "{id}.png",
        "{upper}",
        " {id}",
        "{id}%20",
    ],
)
def test_a_real_id_dressed_up_is_not_found(planted, suffix) -> None:
    base, image_id = planted
    path = "/v1/images/" + suffix.format(id=image_id, upper=image_id.upper())
    response = exchange(base, request_head("GET", path))
    assert response.status in (400, 404), (path, response.status)
    assert SECRET not in response.body


def test_the_real_id_is_served(planted) -> None:
    base, image_id = planted
    response = httpx.get(f"{base}/v1/images/{image_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


@pytest.mark.parametrize("length", [65, 1000, 8000])
def test_overlong_ids_are_404(strict_api, length) -> None:
    base, _ = strict_api
    for path in (f"/v1/images/{'a' * length}", f"/v1/evaluations/ev_{'a' * length}", f"/v1/jobs/job_{'a' * length}"):
        response = httpx.get(base + path, timeout=10)
        assert response.status_code == 404, (path[:40], response.text[:200])
        assert response.json()["error"]["type"] == "not_found"


def test_an_enormous_request_line_is_refused_by_the_server(strict_api) -> None:
    base, _ = strict_api
    try:
        response = exchange(base, request_head("GET", "/v1/images/" + "a" * 200_000), timeout=10)
    except (ConnectionError, OSError):
        return  # hung up on: fine
    assert 400 <= response.status < 500, response.status


# -- NUL characters on PostgreSQL (which cannot even compare text holding one) ---------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/evaluations/ev_%00", 404),
        ("GET", "/v1/images/" + "a" * 63 + "%00", 404),
        ("GET", "/v1/images/" + "%00" * 64, 404),
        ("GET", "/v1/jobs/job_%00", 400),
        ("GET", "/v1/jobs?task=%00", 400),
        ("GET", "/v1/review?task=%00", 400),
        ("GET", "/v1/rubrics/%00", 404),
        ("GET", "/v1/models/%00", 404),
    ],
)
def test_nul_in_ids_and_filters_is_a_4xx_on_postgres(pg_api, method, path, status) -> None:
    response = httpx.request(method, pg_api + path, timeout=10)
    assert response.status_code == status, response.text
    assert response.json()["error"]["type"] != "server_error"


def test_nul_in_a_review_id_is_a_4xx_on_postgres(pg_api) -> None:
    response = httpx.post(f"{pg_api}/v1/review/ev_%00/decision", json={"decision": "approve", "reviewer": "x"})
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/jobs", {"task": "text-to-image", "prompt": "a\u0000b"}, "prompt"),
        ("/v1/images/generations", {"prompt": "a\u0000b"}, "prompt"),
        ("/v1/images/generations", {"prompt": "ab", "user": "\u0000"}, "user"),
        ("/v1/review/ev_x/decision", {"decision": "reject", "reviewer": "ana", "note": "x\u0000"}, "note"),
        ("/v1/evaluations", {"task": "text-to-image", "image_url": "http://x/", "params": {"prompt": "\u0000"}}, None),
    ],
)
def test_nul_in_json_text_is_400_naming_the_field(pg_api, path, body, field) -> None:
    response = httpx.post(pg_api + path, json=body, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "NUL" in error["message"]
    if field:
        assert error["field"] == field


@pytest.mark.parametrize("param", ["prompt", "text"])
def test_nul_in_multipart_params_is_400_before_anything_is_stored(pg_api, param) -> None:
    """A judge quotes params in its reasoning: stored, the NUL would make every vote fail to insert, for ever."""
    task = "text-render" if param == "text" else "text-to-image"
    response = httpx.post(
        f"{pg_api}/v1/evaluations",
        data={"task": task, "params": f'{{"{param}": "OPEN\\u000024/7"}}'},
        files={"image": ("a.png", png_bytes())},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == f"params.{param}"
