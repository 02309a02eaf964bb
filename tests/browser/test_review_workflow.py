"""The review queue as a team works it, in Chromium at 1366×768 and 390×844: a judging screen that fits the window
(zoom, pan, the edit views), claims that keep two reviewers apart, and decisions that are never lost (an expired
session, a refused combination, someone deciding first), bulk decisions and undo. Screenshots go to
test-artifacts/ (review-1366.png, review-390.png, review-edit-difference.png, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.browser.conftest import KEYS, amber_job, log_in, screenshot
from tests.support.amber_edit import amber_edit_files

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
#: A prompt of 400 characters without a single space: it must wrap, not widen the page.
SPACELESS_PROMPT = "acoffeecuponwhite" * 23 + "a" * 9


def logged_in(browser, base: str, name: str) -> Iterator[object]:
    """One browser per reviewer for the whole module: every login counts against the login rate limit."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    log_in(page, base, KEYS[name])
    yield page
    context.close()


@pytest.fixture(scope="module")
def ana(stack, browser) -> Iterator[object]:
    yield from logged_in(browser, stack[0], "ana")


@pytest.fixture(scope="module")
def bo(stack, browser) -> Iterator[object]:
    yield from logged_in(browser, stack[0], "bo")


def edit_evaluation(base: str) -> str:
    """An object-removal edit (source, mask, result) the judges leave amber: its fill is a flat patch."""
    files = amber_edit_files()
    created = httpx.post(f"{base}/v1/evaluations", data={"task": "object-removal"}, files=files, timeout=30)
    assert created.status_code in (200, 201, 202), created.text
    done = httpx.get(f"{base}/v1/evaluations/{created.json()['id']}?wait=30", timeout=40).json()
    assert done["verdict"] == "amber", done["summary"]
    return done["id"]


def evaluation_of(job: dict) -> str:
    return job["attempts"][0]["evaluation_id"]


def within(page, selector: str, viewport: dict[str, int]) -> bool:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and (box["y"] + box["height"] <= viewport["height"])
    )


def transform(page) -> str:
    return page.eval_on_selector("#viewer-canvas", "element => getComputedStyle(element).transform")


def test_judging_screen_fits_1366_with_zoom_pan_and_edit_views(stack, ana) -> None:
    base, script = stack
    job = evaluation_of(amber_job(base, script, "a coffee cup on white"))
    edit = edit_evaluation(base)
    page = ana
    page.goto(f"{base}/review")
    assert page.get_attribute("#item", "data-evaluation-id") == job

    # Everything needed to judge is on one screen: the image most of its height, the note and both buttons.
    for control in ("#approve", "#reject", "#note", "#main-image"):
        assert within(page, control, DESKTOP), control
    assert page.locator("#main-image").bounding_box()["height"] >= 0.5 * DESKTOP["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    screenshot(page, "review-1366")

    # Zoom in place: buttons, the + key and the wheel scale the picture; dragging pans; a click never navigates.
    assert transform(page) == "none"
    page.click("#zoom-in")
    after_button = transform(page)
    assert after_button.startswith("matrix(1.25")
    page.keyboard.press("+")
    stage = page.locator("#viewer-stage").bounding_box()
    middle = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.move(*middle)
    page.mouse.wheel(0, -400)
    page.wait_for_function("() => Number(document.getElementById('viewer').dataset.zoom) > 1.6")
    zoomed = transform(page)
    page.mouse.down()
    page.mouse.move(middle[0] + 80, middle[1] + 60, steps=4)
    page.mouse.up()
    assert transform(page) != zoomed  # panned
    url = page.url
    page.click("#main-image")
    assert page.url == url and len(page.context.pages) == 1
    page.dblclick("#main-image")
    assert transform(page) == "none"
    original = page.locator("#open-original")
    assert original.get_attribute("target") == "_blank"
    assert "/v1/images/" in (original.get_attribute("href") or "")

    # An edit: the mask over the result, and the difference between source and result drawn by the server.
    page.goto(f"{base}/review?id={edit}&left={job}")
    assert page.get_attribute("#item", "data-evaluation-id") == edit
    assert not page.is_visible(".layer-mask")
    page.check("#mask-toggle")
    assert page.is_visible(".layer-mask")
    page.keyboard.press("s")
    assert page.is_visible(".layer-source") and not page.is_visible("#main-image")
    page.click("#mode-difference")
    page.wait_for_function("() => document.getElementById('difference-image').naturalWidth > 0")
    assert page.is_visible("#difference-image") and not page.is_visible("#main-image")
    assert within(page, "#approve", DESKTOP) and within(page, "#reject", DESKTOP)
    screenshot(page, "review-edit-difference")

    # The difference image is for logged-in reviewers; an item that is no edit has none.
    drawn = page.request.get(f"{base}/review/{edit}/difference.png")
    assert drawn.status == 200 and drawn.headers["content-type"] == "image/png"
    assert page.request.get(f"{base}/review/{job}/difference.png").status == 404
    anonymous = httpx.get(f"{base}/review/{edit}/difference.png", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_two_reviewers_get_different_items_and_a_phone_never_scrolls_sideways(stack, ana, bo) -> None:
    base, script = stack
    long_prompt = evaluation_of(amber_job(base, script, SPACELESS_PROMPT))
    amber_job(base, script, "a kettle on white")
    bo.set_viewport_size(PHONE)
    ana.goto(f"{base}/review")
    bo.goto(f"{base}/review")
    held_by_ana = ana.get_attribute("#item", "data-evaluation-id")
    held_by_bo = bo.get_attribute("#item", "data-evaluation-id")
    assert held_by_ana != held_by_bo

    # The list says what failed, what made the image, how long it waits, and who holds it.
    assert "held by ana" in bo.locator(f".queue-list li[data-id='{held_by_ana}']").inner_text()
    row = bo.locator(f".queue-list li[data-id='{long_prompt}']").inner_text()
    assert "fills-frame" in row and "fake:gpt-image-1" in row and " s" in row
    assert "held by you" in bo.locator(f".queue-list li[data-id='{held_by_bo}']").inner_text()

    # Opening a colleague's item says who holds it and until when, and offers the next free one.
    bo.goto(f"{base}/review?id={held_by_ana}")
    claimed = bo.inner_text("#claimed-by")
    assert "Claimed by ana until" in claimed
    assert bo.get_attribute("#next-free", "href").startswith("/review")

    bo.goto(f"{base}/review?id={long_prompt}")
    assert bo.inner_text("#prompt") == SPACELESS_PROMPT
    assert bo.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert bo.locator("#prompt").bounding_box()["width"] <= PHONE["width"]
    screenshot(bo, "review-390")
    bo.set_viewport_size(DESKTOP)


def test_a_decision_sent_after_the_session_expired_is_applied_after_login(stack, ana) -> None:
    base, script = stack
    item = evaluation_of(amber_job(base, script, "a teapot on white"))
    page = ana
    page.goto(f"{base}/review?id={item}&task=product-white-background")
    page.fill("#note", "the handle is bent")
    page.context.clear_cookies()  # the session ends while the reviewer is still typing

    page.click("#reject")
    assert "Log in again" in page.inner_text(".login")
    assert page.inner_text("#pending-note") == "the handle is bent"
    page.fill("#key", "not-a-key")
    page.click("button[type=submit]")
    assert "not a reviewer key" in page.inner_text(".login")
    assert page.inner_text("#pending-note") == "the handle is bent"  # still carried after a typo
    page.fill("#key", KEYS["ana"])
    page.click("button[type=submit]")
    page.wait_for_url(f"**decided={item}*")
    assert "Rejected" in page.inner_text("#decided")
    assert "task=product-white-background" in page.url  # the filters came through too
    review = httpx.get(f"{base}/v1/evaluations/{item}").json()["review"]
    assert (review["decision"], review["reviewer"], review["note"]) == ("reject", "ana", "the handle is bent")

    # Carried through a login but refused there (bo decides an item ana already decided): the item, the reason
    # and bo's note, never a dead end.
    with httpx.Client(base_url=base) as bo:
        token = re.search(r'name="csrf_token" value="([^"]+)"', bo.get("/login").text)
        assert token is not None
        pending = {"evaluation_id": item, "decision": "approve", "note": "looks fine to me", "task": ""}
        refused = bo.post("/login/decision", data=pending | {"key": KEYS["bo"], "csrf_token": token.group(1)})
        assert refused.status_code == 409
        assert "already decided by ana" in refused.text
        assert ">looks fine to me</textarea>" in refused.text
        assert "sentinel_session" in bo.cookies  # and bo is logged in

    # Another site's post is never carried into a login page: refused as it was before.
    forged = httpx.post(
        f"{base}/review/{item}/decision",
        data={"decision": "approve", "note": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403 and "evil.example" in forged.text and 'name="key"' not in forged.text


def test_refused_decisions_keep_the_note_and_undo_takes_one_back(stack, ana, bo) -> None:
    base, script = stack
    contested = evaluation_of(amber_job(base, script, "a vase on white"))
    approved = amber_job(base, script, "a lamp on white")
    ana.goto(f"{base}/review?id={contested}")
    ana.fill("#note", "keep this note")

    # Approve + regenerate reaching the server (the form never sends it): the item again, note and reason kept.
    ana.check("#regenerate")
    ana.evaluate(
        """() => {
          const form = document.getElementById('decision-form');
          const chosen = Object.assign(document.createElement('input'), {type: 'hidden', name: 'decision',
                                                                          value: 'approve'});
          form.appendChild(chosen);
          HTMLFormElement.prototype.submit.call(form);
        }"""
    )
    ana.wait_for_selector("#refused")
    assert "only a rejection can ask for regeneration" in ana.inner_text("#refused")
    assert ana.get_attribute("#item", "data-evaluation-id") == contested
    assert ana.input_value("#note") == "keep this note"

    # Someone else decides first: the 409 names them and when, and the note stays in its box to copy.
    bo.goto(f"{base}/review?id={contested}")
    bo.click("#approve")
    bo.wait_for_url("**decided=*")
    ana.uncheck("#regenerate")
    ana.click("#reject")
    ana.wait_for_selector("#refused")
    refused = ana.inner_text("#refused")
    assert "already decided by bo at" in refused and "UTC" in refused
    assert ana.input_value("#note") == "keep this note"
    assert not ana.is_visible("#approve")

    # In the form, approving clears "regenerate" (g ticks it, a approves): the approval and its note go through.
    item = evaluation_of(approved)
    ana.goto(f"{base}/review?id={item}&task=product-white-background")
    ana.keyboard.press("g")
    assert ana.is_checked("#regenerate")
    ana.keyboard.press("e")
    ana.keyboard.type("fine, the shadow is soft")
    ana.keyboard.press("Escape")
    ana.keyboard.press("a")
    ana.wait_for_url(f"**decided={item}*")
    assert "task=product-white-background" in ana.url
    job = httpx.get(f"{base}/v1/jobs/{approved['id']}").json()
    assert job["verdict"] == "green" and len(job["attempts"]) == 1
    assert job["attempts"][0]["review"]["note"] == "fine, the shadow is soft"

    # Undo within five minutes: the item waits again and opens, held by the reviewer who undid it.
    ana.click("#undo")
    ana.wait_for_url(f"**undone={item}*")
    assert ana.get_attribute("#item", "data-evaluation-id") == item
    assert "undone" in ana.inner_text("#info")
    assert within(ana, "#approve", DESKTOP) and within(ana, "#reject", DESKTOP)  # the flash takes no button away
    assert httpx.get(f"{base}/v1/evaluations/{item}").json()["review"]["state"] == "waiting"
    assert httpx.get(f"{base}/v1/jobs/{approved['id']}").json()["verdict"] != "green"


def test_bulk_approve_of_selected_items_reports_each(stack, bo) -> None:
    base, script = stack
    picked = [evaluation_of(amber_job(base, script, f"a mug, take {n}")) for n in (1, 2)]
    page = bo
    page.goto(f"{base}/review?task=product-white-background")
    assert page.is_disabled("#bulk-approve")
    for evaluation_id in picked:
        page.check(f"input.pick[value='{evaluation_id}']")
    assert page.inner_text("#picked") == "(2)"
    page.fill("#bulk-note", "catalogue batch, fine")
    page.click("#bulk-approve")
    page.wait_for_selector("#bulk-results")
    results = page.locator("#bulk-results li")
    assert results.count() == 2
    assert {results.nth(i).get_attribute("data-status") for i in range(2)} == {"decided"}
    assert page.input_value("#filter-task") == "product-white-background"  # the filter is kept
    screenshot(page, "review-bulk")
    for evaluation_id in picked:
        view = httpx.get(f"{base}/v1/evaluations/{evaluation_id}").json()
        assert view["final_verdict"] == "green"
        assert (view["review"]["reviewer"], view["review"]["note"]) == ("bo", "catalogue batch, fine")


def test_logins_carrying_a_decision_count_against_the_login_rate_limit(stack) -> None:
    # Last in the module: it spends this address's login attempts for the next minute.
    base, _ = stack
    with httpx.Client(base_url=base) as guesser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', guesser.get("/login").text)
        assert token is not None
        form = {"evaluation_id": "ev_x", "decision": "approve", "csrf_token": token.group(1)}
        answers = [guesser.post("/login/decision", data=form | {"key": f"guess-{n}"}).status_code for n in range(12)]
    assert answers[0] == 401 and answers[-1] == 429
