"""A query parameter a list, export or read does not take is refused naming it and the ones it takes (outside probe
H8 F4): ``?verdcit=red`` was ignored, so the list, or the whole export, came back unfiltered."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/v1/evaluations?verdcit=red&limit=1",
        "/v1/evaluations/export?format=csv&verdcit=red",
        "/v1/jobs?stat=done",
        "/v1/jobs/export?verdcit=red",
        "/v1/review?taks=text-to-image",
        "/v1/review/stats?windw=24h",
        "/v1/webhooks/deliveries?stat=failed",
        "/v1/dashboard?windw=24h",
        "/v1/evaluations/ev_missing?wiat=30",
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_it_and_the_accepted_ones(client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 400, (path, answer.status_code, answer.text)
    error = answer.json()["error"]
    unknown = path.split("?")[1].split("&")[-1].split("=")[0] if "verdcit" not in path else "verdcit"
    assert error["param"] == unknown and f"unknown query parameter '{unknown}'" in error["message"], error
    assert "this endpoint takes:" in error["message"], error


def test_the_parameters_an_endpoint_takes_still_filter(client) -> None:
    assert client.get("/v1/evaluations?verdict=red&limit=1").status_code == 200
    assert client.get("/v1/evaluations/export?format=csv&verdict=red").status_code == 200
    assert client.get("/v1/jobs?limit=1").status_code == 200
    assert "verdict" in client.get("/v1/evaluations?verdcit=red").json()["error"]["message"]
