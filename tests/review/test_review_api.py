"""The review queue's JSON API: amber items wait, one decision each, the decision becomes the verdict."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import FIXTURES


def amber_evaluation(client) -> str:
    image = (FIXTURES / "product-white-background" / "graded" / "fill-82.jpg").read_bytes()
    created = client.post(
        "/v1/evaluations", data={"task": "product-white-background"}, files={"image": ("p.jpg", image)}
    ).json()
    done = client.get(f"/v1/evaluations/{created['id']}?wait=30").json()
    assert done["verdict"] == "amber", done["summary"]
    assert done["review"] == {"state": "waiting", "final_verdict": None}
    return created["id"]


def test_amber_item_waits_and_an_approval_makes_it_green(client) -> None:
    evaluation_id = amber_evaluation(client)
    queue = client.get("/v1/review", params={"task": "product-white-background"}).json()["data"]
    item = next(i for i in queue if i["id"] == evaluation_id)
    assert any(c["id"] == "fills-frame" and not c["passed"] for j in item["judges"] for c in j["criteria"])
    decided = client.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "approve", "note": "fine"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["final_verdict"] == "green"
    view = client.get(f"/v1/evaluations/{evaluation_id}").json()
    assert view["verdict"] == "amber"  # the panel's verdict stays on record
    assert view["final_verdict"] == "green"
    # An open server (no API keys) has nobody to name: see tests/review/test_reviewer_identity.py.
    assert view["review"]["reviewer"] == "anonymous" and view["review"]["human"] is True
    assert evaluation_id not in {i["id"] for i in client.get("/v1/review").json()["data"]}


def test_second_decision_is_refused_with_who_decided(client) -> None:
    evaluation_id = amber_evaluation(client)
    url = f"/v1/review/{evaluation_id}/decision"
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda who: client.post(url, json={"decision": "reject", "reviewer": who}), ["bo", "cy"])
        )
    assert sorted(a.status_code for a in answers) == [200, 409]
    refused = next(a for a in answers if a.status_code == 409).json()["error"]
    assert refused["type"] == "already_decided"
    assert refused["message"].startswith("already decided by ")
    assert client.get(f"/v1/evaluations/{evaluation_id}").json()["final_verdict"] == "red"


def test_only_amber_results_can_be_decided(client) -> None:
    image = (FIXTURES / "product-white-background" / "good.jpg").read_bytes()
    created = client.post(
        "/v1/evaluations", data={"task": "product-white-background"}, files={"image": ("g.jpg", image)}
    ).json()
    client.get(f"/v1/evaluations/{created['id']}?wait=30")
    response = client.post(f"/v1/review/{created['id']}/decision", json={"decision": "approve", "reviewer": "ana"})
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "not_awaiting_review"
    bad = client.post(f"/v1/review/{created['id']}/decision", json={"decision": "maybe", "reviewer": "ana"})
    assert bad.status_code == 400
    missing = client.post("/v1/review/ev_nope/decision", json={"decision": "approve", "reviewer": "ana"})
    assert missing.status_code == 404


def test_stats_compare_each_judge_with_the_reviewers(client) -> None:
    approved = amber_evaluation(client)
    client.post(f"/v1/review/{approved}/decision", json={"decision": "approve", "reviewer": "ana"})
    stats = client.get("/v1/review/stats").json()
    assert stats["decisions"] >= 1
    layout = stats["judges"]["layout"]
    # layout failed the amber item that the reviewer approved: it disagreed at least once.
    assert layout["decisions"] >= 1 and layout["agreement"] < 1
    assert set(stats["judges"]) >= {"pixels", "layout", "text"}
