"""The team workflow through the JSON API of a served Sentinel: two reviewers' keys of one tenant, a fake image
provider scripted to make amber and green images, and a webhook receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server, write_fake_routes
from tests.jobs.test_jobs_redis_postgres import amber_product, good_product, red_product
from tests.keys.test_keys import create_key
from tests.support.webhook_receiver import WebhookReceiver


@dataclass
class Team:
    base: str
    script: Script
    ana: httpx.Client
    bo: httpx.Client
    #: A reviewer of another tenant.
    cy: httpx.Client
    hooks: WebhookReceiver


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[Team]:
    tmp = tmp_path_factory.mktemp("team")
    script = Script()
    with serve(create_app(script)) as fake, WebhookReceiver() as hooks:
        write_fake_routes(tmp / "routes.yaml", fake.url)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_API_KEY_CACHE_SECONDS="0",
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
            FAKE_KEY="sk-fake",
        )
        scopes = ("--scopes", "generate,evaluate,review", "--tenant", "studio")
        keys = {name: create_key(env, "--name", name, *scopes) for name in ("ana", "bo")}
        keys["cy"] = create_key(env, "--name", "cy", "--scopes", "review", "--tenant", "elsewhere")
        server, base = start_server(env, tmp / "api.log")
        clients = {
            name: httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=40)
            for name, key in keys.items()
        }
        try:
            yield Team(base, script, clients["ana"], clients["bo"], clients["cy"], hooks)
        finally:
            for client in clients.values():
                client.close()
            server.stop()


def finished_job(team: Team, image: bytes, prompt: str = "a coffee cup") -> dict:
    team.script.images.append(image)
    body = {"task": "product-white-background", "prompt": prompt, "callback_url": team.hooks.url}
    created = team.ana.post("/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    job = team.ana.get(f"/v1/jobs/{created.json()['id']}?wait=30").json()
    assert job["state"] == "done", job
    return job


def wait_for_hook(team: Team, event: str, resource_id: str) -> None:
    deadline = time.monotonic() + 30
    while not team.hooks.counts(event)[resource_id]:
        assert time.monotonic() < deadline, f"no {event} for {resource_id}: {team.hooks.snapshot()}"
        time.sleep(0.05)


def test_the_job_list_shows_a_green_jobs_image_verdict_and_summary_as_its_page_does(team) -> None:
    job = finished_job(team, good_product())
    assert job["verdict"] == "green"
    listed = next(j for j in team.ana.get("/v1/jobs", params={"limit": 20}).json()["data"] if j["id"] == job["id"])
    [shown], [expected] = listed["result"]["images"], job["result"]["images"]
    assert shown["image"]["id"] == expected["image"]["id"] and shown["image"]["id"]
    assert (shown["verdict"], shown["summary"]) == (expected["verdict"], expected["summary"]) == ("green", ANY_TEXT)
    assert listed["attempts"] is None  # the list stays light: attempts are on the job's own page


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()


def test_the_queue_counts_the_votes_the_evaluation_has(team) -> None:
    job = finished_job(team, amber_product())
    evaluation_id = job["attempts"][0]["evaluation_id"]
    evaluation = team.ana.get(f"/v1/evaluations/{evaluation_id}").json()
    row = next(i for i in team.ana.get("/v1/review").json()["data"] if i["id"] == evaluation_id)
    assert row["votes_in"] == evaluation["votes_in"] == len(evaluation["judges_expected"]) > 0
    assert row["provider_model"] == "fake:gpt-image-1"
    assert row["failing"] and row["failing"][0]["criterion"] == "fills-frame"
    team.ana.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "approve"})


def test_claims_over_http_name_the_key_holding_the_item(team) -> None:
    job = finished_job(team, amber_product())
    evaluation_id = job["attempts"][0]["evaluation_id"]
    mine = team.ana.post(f"/v1/review/{evaluation_id}/claim").json()
    assert (mine["reviewer"], mine["mine"]) == ("ana", True)
    theirs = team.bo.post(f"/v1/review/{evaluation_id}/claim").json()
    assert (theirs["reviewer"], theirs["mine"]) == ("ana", False)
    # bo asks for the next item of a provider that made nothing: none.
    assert team.bo.post("/v1/review/next", json={"model": "nobody:nothing"}).status_code == 204
    assert team.ana.delete(f"/v1/review/{evaluation_id}/claim").status_code == 204
    nxt = team.bo.post("/v1/review/next", json={"task": "product-white-background"})
    assert nxt.status_code == 200, nxt.text
    assert nxt.json()["claim"]["reviewer"] == "bo"
    bad = team.bo.get("/v1/review", params={"older_than": "a while"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "older_than"
    assert team.bo.post("/v1/review/ev_%00/claim").status_code == 400
    # Another tenant's reviewer neither sees the item nor can claim it or learn who holds it.
    assert team.cy.post(f"/v1/review/{evaluation_id}/claim").status_code == 404
    assert team.cy.post("/v1/review/next", json={}).status_code == 204
    assert team.cy.get("/v1/review").json()["data"] == []
    # Clean up for the tests below: everything waiting gets decided by bo in one go.
    waiting = [i["id"] for i in team.bo.get("/v1/review").json()["data"]]
    team.bo.post("/v1/review/decisions", json={"evaluation_ids": waiting, "decision": "approve"})


def test_a_second_decision_names_who_decided_and_when(team) -> None:
    job = finished_job(team, amber_product())
    evaluation_id = job["attempts"][0]["evaluation_id"]
    first = team.ana.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "approve"}).json()
    refused = team.bo.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "reject", "note": "no"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["decided_by"], error["decided_at"], error["decision"]) == ("ana", first["decided_at"], "approve")


def test_undo_puts_the_job_back_to_waiting_for_review_and_tells_the_webhooks(team) -> None:
    job = finished_job(team, amber_product())
    evaluation_id = job["attempts"][0]["evaluation_id"]
    decided = team.ana.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "reject", "note": "cut"})
    assert decided.status_code == 200, decided.text
    assert team.ana.get(f"/v1/jobs/{job['id']}").json()["verdict"] == "red"
    refused = team.bo.post(f"/v1/review/{evaluation_id}/undo")
    assert refused.status_code == 409 and "ana decided this item" in refused.json()["error"]["message"]
    undone = team.ana.post(f"/v1/review/{evaluation_id}/undo")
    assert undone.status_code == 200, undone.text
    after = team.ana.get(f"/v1/jobs/{job['id']}").json()
    assert (after["state"], after["verdict"]) == ("done", "amber")
    assert after["attempts"][0]["verdict"] == "amber" and after["attempts"][0]["review"] is None
    assert team.ana.get(f"/v1/evaluations/{evaluation_id}").json()["review"]["state"] == "waiting"
    assert evaluation_id in {i["id"] for i in team.bo.get("/v1/review").json()["data"]}
    wait_for_hook(team, "job.undone", job["id"])
    wait_for_hook(team, "job.decided", job["id"])
    assert team.hooks.counts("job.decided")[job["id"]] == 1 and team.hooks.counts("job.undone")[job["id"]] == 1
    # Decided again, it is one decision: approve makes the job green.
    assert team.ana.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "approve"}).status_code == 200
    assert team.ana.get(f"/v1/jobs/{job['id']}").json()["verdict"] == "green"


def test_a_rejection_whose_regeneration_exists_cannot_be_undone(team) -> None:
    job = finished_job(team, amber_product())
    team.script.images.append(good_product())
    evaluation_id = job["attempts"][0]["evaluation_id"]
    body = {"decision": "reject", "note": "show the whole cup", "regenerate": True}
    assert team.ana.post(f"/v1/review/{evaluation_id}/decision", json=body).status_code == 200
    refused = team.ana.post(f"/v1/review/{evaluation_id}/undo")
    assert refused.status_code == 409
    assert "regeneration" in refused.json()["error"]["message"]
    team.ana.get(f"/v1/jobs/{job['id']}?wait=30")


def test_bulk_and_progress_over_http(team) -> None:
    first, second = (finished_job(team, amber_product())["attempts"][0]["evaluation_id"] for _ in range(2))
    team.bo.post(f"/v1/review/{second}/claim")
    assert team.bo.post(f"/v1/review/{second}/decision", json={"decision": "reject"}).status_code == 200
    bulk = team.ana.post(
        "/v1/review/decisions", json={"evaluation_ids": [first, second], "decision": "approve", "note": "batch"}
    )
    assert bulk.status_code == 200, bulk.text
    assert [r["status"] for r in bulk.json()["data"]] == ["decided", "already_decided"]
    assert team.ana.get(f"/v1/evaluations/{first}").json()["review"]["note"] == "batch"
    progress = {p["reviewer"]: p for p in team.ana.get("/v1/review/progress").json()["data"]}
    assert progress["bo"]["decided_today"] >= 1 and progress["bo"]["median_seconds_per_item"] is not None
    assert progress["ana"]["decided_total"] >= 1
    assert team.cy.get("/v1/review/progress").json()["data"] == []  # another tenant's reviewers are not listed


def test_an_item_another_reviewer_holds_is_not_decided_under_them_unless_forced(team) -> None:
    job = finished_job(team, amber_product())
    evaluation_id = job["attempts"][0]["evaluation_id"]
    assert team.ana.post(f"/v1/review/{evaluation_id}/claim").json()["mine"] is True
    refused = team.bo.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "reject"})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["type"] == "claimed_by_other"
    assert error["claimed_by"] == "ana" and "force" in error["message"]
    bulk = team.bo.post("/v1/review/decisions", json={"evaluation_ids": [evaluation_id], "decision": "reject"})
    assert [r["status"] for r in bulk.json()["data"]] == ["claimed_by_other"]
    assert team.ana.get(f"/v1/evaluations/{evaluation_id}").json()["review"]["state"] == "waiting"
    forced = team.bo.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "reject", "force": True})
    assert forced.status_code == 200, forced.text
    assert forced.json()["reviewer"] == "bo"


def test_a_reviewers_note_guides_every_later_attempt_of_the_slot_not_only_the_first(team) -> None:
    # The reviewer's regeneration came back red, so the job regenerated on its own: that attempt is told the
    # reviewer's note too (it was dropped there, and the next image repeated what the reviewer had rejected).
    job = finished_job(team, amber_product())
    assert job["max_attempts"] > 2, job
    evaluation_id = job["attempts"][0]["evaluation_id"]
    team.script.images.extend([red_product(), good_product()])
    note = "the cup's handle must face left"
    body = {"decision": "reject", "note": note, "regenerate": True}
    assert team.ana.post(f"/v1/review/{evaluation_id}/decision", json=body).status_code == 200
    after = team.ana.get(f"/v1/jobs/{job['id']}?wait=30").json()
    assert [a["verdict"] for a in after["attempts"]] == ["red", "red", "green"], after
    second, third = after["attempts"][1:]
    assert note in second["guidance"]
    assert note in third["guidance"], third["guidance"]
    # The red attempt's own failures come first: they are what the next image must fix.
    assert third["guidance"].index(note) > 0
