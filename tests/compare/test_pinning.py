"""A candidate of the routing file named as ``provider:model`` is a model of its own: that candidate alone."""

from __future__ import annotations


def test_a_pinned_candidate_is_described_as_a_route_of_its_own(client) -> None:
    response = client.get("/v1/models/local:procedural")
    assert response.status_code == 200, response.text
    entry = response.json()
    assert entry["candidates"] == ["local:procedural"]
    assert "pinned" in entry["description"]


def test_a_pin_of_no_candidate_is_an_unknown_model(client) -> None:
    response = client.get("/v1/models/local:no-such-model")
    assert response.status_code == 404
    assert "provider:model" in response.json()["error"]["message"]


def test_a_job_on_a_pinned_candidate_is_served_by_it(client) -> None:
    created = client.post(
        "/v1/jobs",
        json={"task": "text-to-image", "prompt": "a red ball", "model": "local:procedural", "max_attempts": 1},
    )
    assert created.status_code == 202, created.text
    job = created.json()
    while job["state"] not in ("done", "failed", "expired"):
        job = client.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
    assert job["model"] == "local:procedural"
    assert [(a["provider"], a["model"]) for a in job["attempts"]] == [("local", "procedural")]
