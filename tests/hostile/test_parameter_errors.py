"""A query or path parameter with a value a route refuses is a 400 naming it in OpenAI's error shape, on every route
the API documents (the README promises 400; FastAPI's own answer would be 422)."""

from __future__ import annotations

from typing import Any

import pytest


def _schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A parameter's schema and its alternatives (``Optional[int]`` is ``anyOf: [integer, null]``)."""
    return [schema, *schema.get("anyOf", [])]


def bad_values(schema: dict[str, Any]) -> list[str]:
    """Values the parameter's own schema refuses, as they would arrive in a URL."""
    values: list[str] = []
    for option in _schemas(schema):
        kind = option.get("type")
        if kind in ("integer", "number"):
            values.append("not-a-number")
            if "minimum" in option:
                values.append(str(option["minimum"] - 1))
            if "maximum" in option:
                values.append(str(option["maximum"] + 1))
            if "exclusiveMinimum" in option:
                values.append(str(option["exclusiveMinimum"]))
        elif kind == "boolean":
            values.append("maybe")
        if "enum" in option or "pattern" in option:
            values.append("no-such-value")
        if "maxLength" in option:
            values.append("x" * (option["maxLength"] + 1))
    return values


def documented_parameters(client: Any) -> list[tuple[str, str, str, str]]:
    """(method, path with sample ids, parameter, bad value) for every refusable parameter in the OpenAPI document."""
    found = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] not in ("query", "path"):
                    continue
                for value in bad_values(parameter.get("schema", {})):
                    url = path
                    query = {}
                    if parameter["in"] == "path":
                        url = url.replace("{" + parameter["name"] + "}", value)
                    else:
                        query[parameter["name"]] = value
                    url = url.replace("{evaluation_id}", "ev_nope").replace("{job_id}", "job_nope")
                    found.append((method.upper(), url, parameter["name"], query))
    return found


def test_every_documented_parameter_refusal_is_a_400_naming_it(client: Any) -> None:
    cases = documented_parameters(client)
    # The routes that take typed parameters: lists' limits, long-poll waits, the deliveries' delivered flag.
    assert {(m, u) for m, u, _, _ in cases} >= {
        ("GET", "/v1/jobs"),
        ("GET", "/v1/evaluations"),
        ("GET", "/v1/jobs/job_nope"),
        ("GET", "/v1/webhooks/deliveries"),
        ("GET", "/v1/review"),
    }
    wrong = []
    for method, url, name, query in cases:
        answer = client.request(method, url, params=query)
        if method == "HEAD":  # a HEAD (of an export) has no body to name the parameter in: the GET's 400 is all
            if answer.status_code != 400:
                wrong.append((method, url, query, answer.status_code, answer.text[:200]))
            continue
        error = (
            answer.json().get("error", {})
            if answer.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if answer.status_code != 400 or error.get("param") != name or error.get("type") != "invalid_request_error":
            wrong.append((method, url, query, answer.status_code, answer.text[:200]))
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/v1/jobs?limit=0", "limit"),
        ("/v1/jobs?state=sleeping", "state"),
        ("/v1/evaluations?limit=abc", "limit"),
        ("/v1/evaluations/ev_nope?wait=999", "wait"),
        ("/v1/webhooks/deliveries?delivered=maybe", "delivered"),
    ],
)
def test_a_refused_query_parameter_says_what_is_wrong(client: Any, url: str, name: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == (name, "invalid_value"), error
    assert error["message"].startswith(f"Invalid '{name}': "), error
