"""Every GET route answers HEAD with the GET's status and headers and no body (RFC 9110 §9.1): uptime monitors
(`curl -I`, `wget --spider`, hosted HTTP monitors) probe with HEAD and read a 405 as the service being down."""

from __future__ import annotations

from sentinel.api.app import create_app

#: The paths monitors and people probe first, each a GET route without path parameters.
PROBED = ("/healthz", "/readyz", "/metrics", "/v1/models", "/v1/jobs", "/v1/evaluations", "/docs", "/review")


def test_monitored_paths_answer_head_as_get(client) -> None:
    for path in PROBED:
        got = client.get(path)
        head = client.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code, got.status_code)
        assert head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path


def test_every_get_route_without_parameters_takes_head(client) -> None:
    paths = create_app().openapi()["paths"]
    routes = [path for path, operations in paths.items() if "get" in operations and "{" not in path]
    assert len(routes) > 10
    refused = [path for path in routes if client.head(path).status_code == 405]
    assert refused == []


def test_head_on_a_path_that_takes_only_post_stays_405_naming_post(client) -> None:
    answer = client.head("/v1/jobs/job_unknown/cancel")
    assert answer.status_code == 405
    assert "POST" in answer.headers["allow"]
