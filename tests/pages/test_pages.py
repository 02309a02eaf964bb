"""The operator pages through HTTP: login, CSRF, decisions, escaping (the browser tests drive the same pages)."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from sentinel.pages.auth import SESSION_COOKIE
from tests.pages.login import log_in
from tests.review.test_review_api import amber_evaluation
from tests.support.amber_edit import amber_edit_files


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def logged_in(client):
    client.cookies.clear()
    key = client.app.state.reviewer_auth.keys()["admin"]
    response = log_in(client, key, "/review")
    assert response.status_code == 303 and response.headers["location"] == "/review"
    yield client
    client.cookies.clear()


def test_pages_need_a_login_and_a_wrong_key_is_refused(client) -> None:
    client.cookies.clear()
    for page in ("/review", "/dashboard", "/review/stats", "/jobs/job_x", "/evaluations/ev_x"):
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/login?next=")
    refused = log_in(client, "not-a-key", "/review")
    assert refused.status_code == 401
    assert "not a reviewer key" in refused.text
    assert SESSION_COOKIE not in refused.cookies


def test_login_only_returns_to_pages_of_this_site(client) -> None:
    key = client.app.state.reviewer_auth.keys()["admin"]
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.clear()
        response = log_in(client, key, target)
        assert response.headers["location"] == "/review", target
    client.cookies.clear()


def test_a_forged_or_tampered_session_cookie_is_not_a_login(client) -> None:
    client.cookies.set(SESSION_COOKIE, "eyJyIjoiYWRtaW4ifQ.forged.signature")
    assert client.get("/review", follow_redirects=False).status_code == 303
    client.cookies.clear()


def test_decision_without_the_csrf_token_is_refused_and_changes_nothing(logged_in) -> None:
    client = logged_in
    evaluation_id = amber_evaluation(client)
    page = client.get("/review", params={"id": evaluation_id})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    token = csrf_of(page.text)

    missing = client.post(f"/review/{evaluation_id}/decision", data={"decision": "approve"})
    assert missing.status_code == 403
    assert "security token" in missing.text
    wrong = client.post(f"/review/{evaluation_id}/decision", data={"decision": "approve", "csrf_token": "x" * 32})
    assert wrong.status_code == 403
    cross_site = client.post(
        f"/review/{evaluation_id}/decision",
        data={"decision": "approve", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert "sent from https://evil.example" in cross_site.text
    # Bulk and undo share the decision's check; of the three, only the bulk error page names the reviewer.
    for path, form in [
        (f"/review/{evaluation_id}/decision", {"decision": "approve"}),
        ("/review/bulk", {"decision": "approve", "ids": evaluation_id}),
        (f"/review/{evaluation_id}/undo", {}),
    ]:
        refused = client.post(path, data=form | {"csrf_token": "x" * 32}, follow_redirects=False)
        assert refused.status_code == 403 and "security token" in refused.text, path
        assert ('class="who">admin<' in refused.text) == (path == "/review/bulk"), path
    assert client.get(f"/v1/evaluations/{evaluation_id}").json()["review"]["state"] == "waiting"


def test_a_review_post_after_the_session_ended_goes_to_login(client) -> None:
    """A decision is carried through the login page with its note; bulk and undo go to login, then the queue."""
    client.cookies.clear()
    for path in ("/review/bulk", "/review/ev_x/undo"):
        gone = client.post(path, data={"decision": "approve", "ids": "ev_x"}, follow_redirects=False)
        assert (gone.status_code, gone.headers["location"]) == (303, "/login?next=%2Freview"), path
    carried = client.post("/review/ev_x/decision", data={"decision": "approve", "note": "keep me"})
    assert carried.status_code == 401
    assert "Log in again and it will be applied" in carried.text and "keep me" in carried.text


def test_page_decision_becomes_the_verdict_and_a_second_one_says_who_decided(logged_in) -> None:
    client = logged_in
    evaluation_id = amber_evaluation(client)
    page = client.get("/review", params={"id": evaluation_id, "task": "product-white-background"})
    assert "fills-frame" in page.text  # the objecting criterion, with its measurement
    assert "quality issue" in page.text
    # The note goes into a regeneration's prompt word for word (probe H4): the page says to write what the image
    # must show, since an image model draws the words it is given ("it says SALEE" would be drawn).
    help_text = re.search(r'<small id="note-help"[^>]*>(.*?)</small>', page.text, re.S)
    assert help_text is not None and "prompt gets this note as written" in " ".join(help_text.group(1).split())
    form = {"decision": "approve", "note": "fine for a thumbnail", "csrf_token": csrf_of(page.text)}
    decided = client.post(f"/review/{evaluation_id}/decision", data=form, follow_redirects=False)
    assert decided.status_code == 303
    assert f"decided={evaluation_id}" in decided.headers["location"]
    assert "Approved" in client.get(decided.headers["location"]).text

    view = client.get(f"/v1/evaluations/{evaluation_id}").json()
    assert view["final_verdict"] == "green"
    assert (view["review"]["reviewer"], view["review"]["note"]) == ("admin", "fine for a thumbnail")

    again = client.post(f"/review/{evaluation_id}/decision", data=form | {"decision": "reject"})
    assert again.status_code == 409
    assert "already decided by admin" in again.text

    detail = client.get(f"/evaluations/{evaluation_id}")
    assert detail.status_code == 200
    assert "Approved by admin" in detail.text and "fine for a thumbnail" in detail.text


def test_user_strings_are_escaped_on_every_page(logged_in) -> None:
    client = logged_in
    prompt = '<script>alert("x")</script> a red ball'
    created = client.post(
        "/v1/jobs", json={"task": "text-to-image", "prompt": prompt, "params": {"width": 512, "height": 512}}
    ).json()
    client.get(f"/v1/jobs/{created['id']}?wait=30")
    page = client.get(f"/jobs/{created['id']}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; a red ball" in page.text
    assert "local" in page.text  # operator pages name the provider


def test_regeneration_is_only_for_job_items(logged_in) -> None:
    client = logged_in
    evaluation_id = amber_evaluation(client)
    response = client.post(
        f"/v1/review/{evaluation_id}/decision", json={"decision": "reject", "reviewer": "ana", "regenerate": True}
    )
    assert response.status_code == 400
    assert "regeneration needs a job item" in response.json()["error"]["message"]
    assert client.get(f"/v1/evaluations/{evaluation_id}").json()["review"]["state"] == "waiting"


def test_missing_pages_answer_404_in_html(logged_in) -> None:
    response = logged_in.get("/jobs/job_nope")
    assert response.status_code == 404
    assert "no job with id" in response.text and response.headers["content-type"].startswith("text/html")


def test_edit_items_show_source_mask_and_result_side_by_side(logged_in) -> None:
    client = logged_in
    created = client.post("/v1/evaluations", data={"task": "object-removal"}, files=amber_edit_files()).json()
    done = client.get(f"/v1/evaluations/{created['id']}?wait=30").json()
    assert done["verdict"] == "amber", done["summary"]
    page = client.get("/review", params={"id": created["id"]}).text
    figures = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', page)
    assert [alt for _, alt in figures] == ["source image", "mask", "image under review"]
    assert [html.unescape(src) for src, _ in figures] == [done[name]["url"] for name in ("source", "mask", "image")]
    assert "no-new-text" in page


def test_moving_on_from_an_unknown_item_shows_the_queue_page(client) -> None:
    from fastapi.testclient import TestClient

    # A client address of its own: its login counts against no other test's limit.
    browser = TestClient(client.app, client=(f"browser-{uuid.uuid4().hex[:8]}", 50000), base_url="http://localhost")
    assert log_in(browser, client.app.state.reviewer_auth.keys()["admin"], "/review").status_code == 303
    # An id edited in the address bar (or one deleted since): the page, not an API error in JSON.
    for place in ("after", "left"):
        response = browser.get("/review", params={place: "ev_unknown"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
