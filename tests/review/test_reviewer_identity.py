"""A decision is recorded under who authenticated, never under the name a request body claims."""

from __future__ import annotations

import httpx

from tests.conftest import clean_env, start_server
from tests.keys.test_keys import create_key
from tests.review.test_review_api import amber_evaluation

ADMIN_KEY = "admin-key-0123456789abcdef"


def test_a_reviewer_key_cannot_decide_under_another_reviewers_name(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "reviewer-keys").write_text(f"admin:{ADMIN_KEY}\n")
    env = clean_env(SENTINEL_DATA_DIR=str(data), SENTINEL_API_KEY_CACHE_SECONDS="0")
    xena = create_key(env, "--name", "xena", "--scopes", "evaluate,review")
    server, base = start_server(env, tmp_path / "api.log")
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {xena}"}, timeout=40) as api:
            first, second = amber_evaluation(api), amber_evaluation(api)
            decided = api.post(f"/v1/review/{first}/decision", json={"decision": "approve", "reviewer": "admin"})
            assert decided.status_code == 200, decided.text
            assert decided.json()["reviewer"] == "xena"
            assert api.get(f"/v1/evaluations/{first}").json()["review"]["reviewer"] == "xena"
            # Without the field it is the same: the key is the identity.
            plain = api.post(f"/v1/review/{second}/decision", json={"decision": "reject"})
            assert plain.status_code == 200 and plain.json()["reviewer"] == "xena"
            again = api.post(f"/v1/review/{first}/decision", json={"decision": "reject", "reviewer": "admin"})
            assert again.status_code == 409 and "already decided by xena" in again.json()["error"]["message"]
    finally:
        server.stop()


def test_an_open_server_records_decisions_as_anonymous_whatever_the_body_says(client) -> None:
    evaluation_id = amber_evaluation(client)
    decided = client.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "approve", "reviewer": "admin"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["reviewer"] == "anonymous"
    assert client.get(f"/v1/evaluations/{evaluation_id}").json()["review"]["reviewer"] == "anonymous"
