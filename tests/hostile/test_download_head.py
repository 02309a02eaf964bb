"""Every GET route that serves a download or a file answers HEAD with the GET's headers and no body (a download
manager or link checker asks HEAD first; a 405 reads as "no such file"), and HEAD with a bad filter is the GET's
4xx. A HEAD of an export does not read the whole export to throw it away."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.responses import FileResponse, StreamingResponse
from starlette.routing import BaseRoute, Route

from sentinel.api.app import create_app


def serves_a_download(route: APIRoute) -> bool:
    """A GET whose answer is a file: streamed, a file on disk, binary, or an attachment (Content-Disposition)."""
    if isinstance(route.response_class, type) and issubclass(route.response_class, StreamingResponse | FileResponse):
        return True
    ok: dict[str, Any] = route.responses.get(200) or route.responses.get("200") or {}
    if "Content-Disposition" in ok.get("headers", {}):
        return True
    return any(media.get("schema", {}).get("format") == "binary" for media in ok.get("content", {}).values())


def app_routes(routes: list[BaseRoute] | None = None, prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route of the app with its full path, into the routers it includes (FastAPI keeps an included router
    as one entry that holds the router's own routes)."""
    for route in create_app().routes if routes is None else routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from app_routes(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
        elif isinstance(route, Route):
            yield prefix + route.path, route


def methods_by_path() -> dict[str, set[str]]:
    methods: dict[str, set[str]] = {}
    for path, route in app_routes():
        methods.setdefault(path, set()).update(getattr(route, "methods", None) or ())
    return methods


def download_paths() -> list[str]:
    return sorted(
        {
            path
            for path, route in app_routes()
            if isinstance(route, APIRoute) and "GET" in route.methods and serves_a_download(route)
        }
    )


def test_the_walk_finds_the_downloads() -> None:
    assert {"/v1/images/{image_id}", "/v1/jobs/export", "/v1/evaluations/export"} <= set(download_paths())


@pytest.mark.parametrize("path", download_paths())
def test_every_download_route_answers_head(path: str) -> None:
    assert "HEAD" in methods_by_path()[path], f"GET {path} serves a download but HEAD {path} is a 405"


@pytest.mark.parametrize("path", ["/v1/jobs/export", "/v1/evaluations/export"])
@pytest.mark.parametrize("export_format", ["jsonl", "csv"])
def test_head_of_an_export_answers_the_gets_headers_without_a_body(
    client: TestClient, path: str, export_format: str
) -> None:
    got = client.get(path, params={"format": export_format})
    head = client.head(path, params={"format": export_format})
    assert got.status_code == head.status_code == 200, (got.text, head.text)
    assert head.content == b""
    for name in ("content-type", "cache-control"):
        assert head.headers.get(name) == got.headers.get(name), (name, got.headers, head.headers)
    # The attachment's name carries the time it was asked for: the same stem and extension.
    assert head.headers["content-disposition"].rsplit("-", 1)[0] == got.headers["content-disposition"].rsplit("-", 1)[0]
    assert head.headers["content-disposition"].endswith(f'.{export_format}"')
    # No length: the GET streams and does not know its own, and 0 would be a lie.
    assert "content-length" not in head.headers or head.headers["content-length"] != "0"


@pytest.mark.parametrize("path", ["/v1/jobs/export", "/v1/evaluations/export"])
@pytest.mark.parametrize("query", [{"format": "xml"}, {"since": "yesterday-ish"}, {"verdict": "purple"}])
def test_head_of_an_export_with_a_bad_filter_is_the_gets_4xx(client: TestClient, path: str, query: dict) -> None:
    got, head = client.get(path, params=query), client.head(path, params=query)
    assert 400 <= got.status_code < 500, got.text
    assert head.status_code == got.status_code
    assert head.headers["content-type"] == got.headers["content-type"]
