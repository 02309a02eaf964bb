"""The HTML report of `sentinel eval` as a person opens it: from a file, in Chromium, with no server."""

from __future__ import annotations

import shutil
from pathlib import Path

from sentinel.reports import Outcome
from sentinel.reports.html import render, thumbnail_data_uri
from tests.conftest import png_bytes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = '<img src=x onerror="document.title=1">.png'


def outcomes() -> list[Outcome]:
    issue = {"criterion": "not-blank", "judge": "pixels", "severity": "severe", "critical": True, "detail": "blank"}
    thumb = thumbnail_data_uri(png_bytes(640, 480))
    return [
        Outcome("shots/a.png", "text-to-image", "green", "no quality issues", thumbnail=thumb),
        Outcome("shots/b.png", "text-to-image", "red", "1 quality issue (severe): blank", [issue], thumbnail=thumb),
        Outcome("shots/c.png", "product-white-background", "amber", "border 91% white", thumbnail=thumb),
        Outcome(f"shots/{HOSTILE}", "text-to-image", error="image could not be read: Truncated File Read"),
    ]


def test_the_page_filters_by_verdict_and_task_from_a_file_and_escapes_names(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(render(outcomes(), "amber"))
    assert HOSTILE not in page_file.read_text()  # escaped, never markup
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            assert page.title() == "sentinel eval"  # the hostile name ran nothing
            rows = page.locator("tbody tr")
            assert rows.count() == 4
            assert page.locator("tbody img").count() == 3
            assert page.evaluate("document.querySelector('tbody img').naturalWidth") == 240  # scaled down, decoded

            def shown() -> list[str]:
                return [
                    rows.nth(i).locator(".name").inner_text() for i in range(rows.count()) if rows.nth(i).is_visible()
                ]

            page.select_option("#verdict-filter", "red")
            assert shown() == ["shots/b.png"]
            assert "fails the run" in page.locator("tbody tr:visible").inner_text()
            assert "severe, critical" in page.locator("tbody tr:visible").inner_text()
            page.select_option("#verdict-filter", "")
            page.select_option("#task-filter", "product-white-background")
            assert shown() == ["shots/c.png"]
            page.select_option("#task-filter", "text-to-image")
            page.select_option("#verdict-filter", "error")
            assert shown() == [f"shots/{HOSTILE}"]
            assert page.locator("#shown").inner_text() == "1 shown"
        finally:
            browser.close()
