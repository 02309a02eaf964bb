"""The API description tells the truth: every $ref resolves, every answer has its real shape, and a wrong method
gets a 405 that says which methods are allowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

ERROR_REF = "#/components/schemas/ErrorOut"


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


@pytest.fixture(scope="module")
def document(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_ref_resolves(document) -> None:
    found = list(refs(document))
    assert len(found) > 20
    for ref in found:
        resolve(document, ref)


def test_every_success_has_its_real_shape(document) -> None:
    for name, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            for media_type, content in response.get("content", {}).items():
                schema = content.get("schema")
                assert schema, (name, status, media_type)
                if media_type == "application/json":
                    # A JSON body documented as a bare string (or as anything at all) tells a client nothing.
                    assert "$ref" in schema or schema.get("type") == "object", (name, status, schema)
                    target = resolve(document, schema["$ref"]) if "$ref" in schema else schema
                    assert target.get("properties") or target.get("additionalProperties"), (name, status, target)


def test_every_v1_operation_declares_its_errors_with_the_error_body(document) -> None:
    for name, operation in operations(document):
        responses = operation["responses"]
        errors = {status: r for status, r in responses.items() if status.startswith("4")}
        for status, response in errors.items():
            assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (name, status)
        if " /v1/" not in name:
            continue
        # Keys, scopes and rate limits apply to every /v1 call before its endpoint runs.
        assert {"401", "403", "429"} <= set(errors), (name, sorted(errors))
        if name.startswith("POST"):
            assert {"400", "408", "413", "422"} <= set(errors), (name, sorted(errors))
        if "{" in name:
            assert "404" in errors, (name, sorted(errors))


def test_the_error_body_is_what_errors_look_like(client, document) -> None:
    import jsonschema

    schema = resolve(document, ERROR_REF)
    schema = {**schema, "components": document["components"]}
    answers = [
        client.get("/v1/jobs/job_nope"),
        client.get("/v1/jobs?limit=0"),
        client.post("/v1/jobs", json={"task": "nope", "prompt": "x"}),
        client.post("/v1/jobs", content=b"{"),
        client.post("/v1/evaluations", content=b"x", headers={"content-type": "text/plain"}),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        jsonschema.validate(answer.json(), schema)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/jobs", "GET, POST"),
        ("PUT", "/v1/evaluations", "GET, POST"),
        ("PATCH", "/v1/images/" + "0" * 64, "GET, HEAD"),
        ("POST", "/healthz", "GET"),
        ("POST", "/openapi.json", "GET, HEAD"),
    ],
)
def test_a_wrong_method_gets_405_with_allow(client, method, path, allowed) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["type"] == "method_not_allowed"


def check_documented(document: dict[str, Any], method: str, template: str, response: Any) -> None:
    """``response`` is one the description allows: its status is listed and its JSON body has that shape."""
    import jsonschema

    declared = document["paths"][template][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in declared, (method, template, status, sorted(declared))
    schema = declared[status]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(response.json())


def test_answers_have_the_documented_shapes(client, document) -> None:
    from tests.conftest import png_bytes

    job = client.post("/v1/jobs", json={"task": "text-to-image", "prompt": "a red square", "n": 2})
    check_documented(document, "POST", "/v1/jobs", job)
    done = client.get(f"/v1/jobs/{job.json()['id']}?wait=30")
    assert done.json()["result"] is not None, done.text
    check_documented(document, "GET", "/v1/jobs/{job_id}", done)
    check_documented(document, "GET", "/v1/jobs", client.get("/v1/jobs"))
    evaluation = client.post(
        "/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("a.png", png_bytes(96, 96))}
    )
    check_documented(document, "POST", "/v1/evaluations", evaluation)
    judged = client.get(f"/v1/evaluations/{evaluation.json()['id']}?wait=30")
    assert judged.json()["verdict"] is not None, judged.text
    check_documented(document, "GET", "/v1/evaluations/{evaluation_id}", judged)
    for response_format in ("url", "b64_json"):
        body = {"prompt": "a green circle", "size": "256x256", "response_format": response_format}
        check_documented(document, "POST", "/v1/images/generations", client.post("/v1/images/generations", json=body))
    models = client.get("/v1/models")
    check_documented(document, "GET", "/v1/models", models)
    for model in models.json()["data"]:
        check_documented(document, "GET", "/v1/models/{model_id}", client.get(f"/v1/models/{model['id']}"))
    rubrics = client.get("/v1/rubrics")
    check_documented(document, "GET", "/v1/rubrics", rubrics)
    for rubric in rubrics.json()["data"]:
        check_documented(document, "GET", "/v1/rubrics/{task}", client.get(f"/v1/rubrics/{rubric['id']}"))
    for path in ("/v1/review", "/v1/review/stats", "/v1/dashboard", "/readyz", "/healthz"):
        check_documented(document, "GET", path, client.get(path))
