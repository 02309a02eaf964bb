"""/metrics: Prometheus text with requests by route template, provider calls, judge latency, verdicts, queues."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import png_bytes


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return sum(v for have, v in found.get(name, []) if all(have.get(k) == w for k, w in labels.items()))


def test_metrics_after_requests_an_evaluation_and_a_generation(client) -> None:
    missing = client.get("/v1/evaluations/ev_does_not_exist")
    assert missing.status_code == 404
    created = client.post(
        "/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("a.png", png_bytes(96, 96, (9, 9, 9)))}
    ).json()
    done = client.get(f"/v1/evaluations/{created['id']}?wait=30").json()
    assert done["status"] == "done"
    generated = client.post(
        "/v1/images/generations", json={"model": "sentinel-local", "prompt": "a red circle", "size": "256x256"}
    )
    assert generated.status_code == 200, generated.text

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)

    # Requests by route template: the id never becomes a label.
    assert value(found, "sentinel_http_requests_total", route="/v1/evaluations/{evaluation_id}", status="404") >= 1
    assert value(found, "sentinel_http_requests_total", route="/v1/evaluations", method="POST", status="202") >= 1
    assert "ev_does_not_exist" not in response.text and created["id"] not in response.text
    assert value(found, "sentinel_http_request_duration_seconds_count", route="/v1/evaluations") >= 1

    judges = {vote["judge"] for vote in done["judges"]}
    for judge in judges:
        assert value(found, "sentinel_judge_duration_seconds_count", judge=judge) >= 1, judge
        assert value(found, "sentinel_judge_votes_total", judge=judge) >= 1
    assert value(found, "sentinel_verdicts_total", task="text-to-image", verdict=done["verdict"]) >= 1
    assert value(found, "sentinel_provider_calls_total", provider="local", outcome="ok") >= 1

    queues = {(labels["queue"], labels["state"]) for labels, _ in found["sentinel_queue_messages"]}
    assert {("judging", "ready"), ("jobs", "ready"), ("webhooks", "ready"), ("judging", "delayed")} <= queues


def test_an_unknown_path_is_counted_as_unmatched_not_by_its_path(client) -> None:
    assert client.get("/no/such/path/12345").status_code == 404
    text = client.get("/metrics").text
    assert "/no/such/path" not in text
    assert re.search(r'sentinel_http_requests_total\{method="GET",route="unmatched",status="404"\} [1-9]', text)
