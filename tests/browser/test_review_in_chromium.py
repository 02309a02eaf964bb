"""The review pages in a real browser: Debian's Chromium driven by Playwright, against `sentinel serve` on the
embedded defaults with a fake image provider. Screenshots of the queue and the dashboard go to test-artifacts/."""

from __future__ import annotations

import httpx

from tests.browser.conftest import ARTIFACTS, KEYS, SCRIPT_PROMPT, amber_job, log_in


def test_reviewer_decides_the_queue_with_the_keyboard(stack, browser) -> None:
    base, script = stack
    first = amber_job(base, script, "a coffee cup on white")
    second = amber_job(base, script, SCRIPT_PROMPT)
    first_eval, second_eval = first["attempts"][0]["evaluation_id"], second["attempts"][0]["evaluation_id"]

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, base, KEYS["ana"])

    # Oldest first: the first job's image, with every judge's reasoning.
    assert page.get_attribute("#item", "data-evaluation-id") == first_eval
    assert "objected" in page.inner_text("#item")
    assert "fills-frame" in page.inner_text("#item")
    assert page.inner_text("#prompt") == "a coffee cup on white"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-queue.png"), full_page=True)

    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")

    # `a` approves, and the next item opens.
    page.keyboard.press("a")
    page.wait_for_url("**decided=*")
    assert page.get_attribute("#item", "data-evaluation-id") == second_eval
    assert "Approved" in page.inner_text("#decided")
    job = httpx.get(f"{base}/v1/jobs/{first['id']}").json()
    assert job["verdict"] == "green"
    assert job["attempts"][0]["review"]["reviewer"] == "ana"
    assert job["attempts"][0]["review"]["human"] is True

    # The prompt with a <script> in it is shown as text and never runs.
    assert page.inner_text("#prompt") == SCRIPT_PROMPT
    assert page.title() != "pwned" and dialogs == []

    # Reject with a note: write it (e), leave the field (Esc), reject (r).
    page.keyboard.press("e")
    page.keyboard.type("cup is cut off at the rim")
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    page.wait_for_url(f"**decided={second_eval}*")
    assert page.is_visible("#queue-empty")
    job = httpx.get(f"{base}/v1/jobs/{second['id']}").json()
    assert job["verdict"] == "red"
    assert job["reason"] == "rejected by ana: cup is cut off at the rim"

    # The job's page shows the human decision and the reviewer's reason.
    page.goto(f"{base}/jobs/{second['id']}")
    assert "human decision by ana" in page.inner_text("main")
    assert "cup is cut off at the rim" in page.inner_text("#job-reason")
    context.close()


def test_second_reviewer_is_told_who_decided_first(stack, browser) -> None:
    base, script = stack
    job = amber_job(base, script, "a teapot")
    evaluation_id = job["attempts"][0]["evaluation_id"]
    pages = []
    for name in ("ana", "bo"):
        context = browser.new_context()
        page = context.new_page()
        log_in(page, base, KEYS[name])
        page.goto(f"{base}/review?id={evaluation_id}")
        pages.append(page)
    pages[0].click("#approve")
    pages[0].wait_for_url("**decided=*")
    pages[1].click("#reject")
    assert "already decided by ana" in pages[1].inner_text("main")
    assert httpx.get(f"{base}/v1/evaluations/{evaluation_id}").json()["final_verdict"] == "green"
    for page in pages:
        page.context.close()


def test_dashboard_renders_charts_without_javascript(stack, browser) -> None:
    base, script = stack
    amber_job(base, script, "a kettle")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    log_in(page, base, KEYS["bo"])
    page.goto(f"{base}/dashboard?window=1h")
    assert page.locator("svg").count() >= 2
    assert "fake:gpt-image-1" in page.inner_text("main")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    context.close()
