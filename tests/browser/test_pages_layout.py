"""The detail pages in Chromium at a phone's 390×844 and a laptop's 1366×768: no page scrolls sideways (not even
with a 400-character prompt without a space), judge reasoning keeps its lines, an abstaining vision judge's
questions show as a checklist, amber pages link to their queue item, and the API docs render with no request
leaving the machine. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import KEYS, amber_job, log_in, screenshot
from tests.pages.vision_stack import ASKS, LINES, REVIEWER, evaluate, vision_stack

VIEWPORTS = {"390": {"width": 390, "height": 844}, "1366": {"width": 1366, "height": 768}}
#: A prompt with no place to break a line: it must wrap anyway.
LONG_WORD = "a" * 400


def fits(page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide at a {width} px viewport"


def test_every_detail_page_fits_a_phone_and_a_laptop(stack, browser) -> None:
    base, script = stack
    job = amber_job(base, script, f"a cup on white {LONG_WORD}")
    evaluation_id = job["attempts"][0]["evaluation_id"]
    pages = {
        "dashboard": "/dashboard",
        "evaluation": f"/evaluations/{evaluation_id}",
        "job": f"/jobs/{job['id']}",
        "review-stats": "/review/stats",
        "error": "/evaluations/ev_missing",
    }
    for size, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(f"{base}/login")
        fits(page, viewport["width"])
        screenshot(page, f"login-{size}")
        log_in(page, base, KEYS["ana"])
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            fits(page, viewport["width"])
            screenshot(page, f"{name}-{size}")
            if name in ("evaluation", "job"):
                # While it waits, the amber page leads to its item in the queue.
                link = page.locator(f'#waiting-review a[data-evaluation-id="{evaluation_id}"]')
                assert link.is_visible()
                assert link.get_attribute("href") == f"/review?id={evaluation_id}"
            if name == "dashboard":
                assert page.is_visible("#judge-calibration")
        context.close()


@pytest.fixture(scope="module")
def vision_base(tmp_path_factory) -> Iterator[str]:
    with vision_stack(tmp_path_factory.mktemp("vision-browser")) as base:
        yield base


def test_reasoning_keeps_its_lines_and_an_abstainer_leaves_a_checklist(vision_base, browser) -> None:
    done = evaluate(vision_base)
    context = browser.new_context(viewport=VIEWPORTS["390"])
    page = context.new_page()
    page.goto(f"{vision_base}/login")
    page.fill("#key", REVIEWER[1])
    page.click("button[type=submit]")
    page.wait_for_url("**/review**")
    page.goto(f"{vision_base}/evaluations/{done['id']}")
    reasoning = page.inner_text('[data-judge="eye-talker"] .reasoning')
    assert "\n".join(LINES) in reasoning, reasoning
    checklist = page.locator('[data-judge="eye-refuser"] .check-by-eye')
    assert checklist.is_visible()
    assert "Check by eye" in checklist.inner_text()
    assert checklist.locator('input[type="checkbox"]').count() == len(ASKS)
    fits(page, 390)
    screenshot(page, "evaluation-vision-390")
    context.close()


def test_api_docs_render_without_the_internet(stack, browser) -> None:
    base, _ = stack
    own = urlsplit(base).netloc
    context = browser.new_context(viewport=VIEWPORTS["1366"])
    asked: list[str] = []
    refused: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    # ReDoc's footer names an image on Redocly's CDN: the page's policy refuses it before any connection is made.
    context.on("requestfailed", lambda request: refused.append(request.url) if request.failure == "csp" else None)
    # Offline: anything for another host fails, as it would on a network without the internet.
    context.route(lambda url: urlsplit(url).netloc != own, lambda route: route.abort())
    page = context.new_page()
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock", timeout=15000)
    assert page.locator(".opblock").count() > 10
    screenshot(page, "docs-1366")
    page.goto(f"{base}/redoc")
    page.wait_for_selector("[data-section-id]", timeout=15000)
    screenshot(page, "redoc-1366")
    sent = [url for url in asked if url not in refused and not url.startswith("blob:")]
    assert {urlsplit(url).netloc for url in sent} == {own}, sent
    context.close()
