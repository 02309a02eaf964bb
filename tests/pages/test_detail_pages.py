"""The detail pages read faithfully: one number formatter for the criteria table and the judges' detail texts,
an abstaining vision judge's questions as a checklist, calibration on the dashboard, links back to the queue,
and the API docs and favicon served without the internet."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from sentinel.evaluation.numbers import number
from sentinel.pages.endpoints import templates
from tests.judges.test_pixel_detectors import astronaut, coffee, judge, rocket
from tests.pages.login import log_in
from tests.pages.vision_stack import ASKS, LINES, REVIEWER, evaluate, vision_stack

CELL = re.compile(r'<td class="(measured|detail)"[^>]*>(.*?)</td>', re.S)


def rendered_rows(criteria: list[dict]) -> list[tuple[str, str]]:
    """(Measured cell, Detail cell) of each row of the judge panel as the pages render it."""
    page = templates.get_template("_judges.html").render(
        judges=[{"judge": "pixels", "passed": True, "reasoning": "", "duration_ms": None, "criteria": criteria}]
    )
    cells = [(kind, html.unescape(text)) for kind, text in CELL.findall(page)]
    measured = [text for kind, text in cells if kind == "measured"]
    details = [text for kind, text in cells if kind == "detail"]
    return list(zip(measured, details, strict=True))


@pytest.mark.parametrize(
    ("value", "reads"),
    [(115.6, "116"), (1470.2, "1470"), (0.0349, "0.0349"), (12.0, "12"), (114.5, "115"), (0.00001234, "0.0000123")],
)
def test_a_measurement_reads_the_same_in_the_table_and_in_a_judges_detail(value: float, reads: str) -> None:
    # The judges write their details with number(); the table formats the measured value with the same function.
    [(cell, detail)] = rendered_rows(
        [{"id": "c", "passed": True, "measured": value, "threshold": 12, "detail": f"score {number(value)}"}]
    )
    assert cell == reads
    assert detail == f"score {reads}"
    assert "e+" not in cell and "e-" not in cell


def test_real_checks_print_the_digits_the_table_shows() -> None:
    # The astronaut's mean brightness is 115.6 and its detail score over a thousand: the table once read 116 and
    # 2.89e+03 where the detail said 115-or-116 and 2887.
    criteria = []
    for image in (astronaut(), coffee(), rocket()):
        for check in ("sharp", "exposure", "not_blank"):
            outcome, _ = judge(check, image)
            criteria.append(
                {"id": check, "passed": outcome.passed, "measured": outcome.measured, "threshold": None}
                | {"detail": outcome.detail}
            )
    rows = rendered_rows(criteria)
    assert ("116", "exposure is fine (mean brightness 116, highlights 255)") in rows
    for cell, detail in rows:
        assert re.search(rf"(?<![\d.]){re.escape(cell)}(?![\d.])", detail), (cell, detail)
        assert not re.search(r"\de[+-]\d", cell), cell


@pytest.fixture(scope="module")
def vision(tmp_path_factory) -> Iterator[tuple[str, httpx.Client]]:
    with vision_stack(tmp_path_factory.mktemp("vision-pages")) as base, httpx.Client(base_url=base) as browser:
        assert log_in(browser, REVIEWER[1]).status_code == 303
        yield base, browser


def test_an_abstaining_vision_judge_leaves_its_questions_to_check_by_eye(vision) -> None:
    base, browser = vision
    done = evaluate(base)
    assert done["verdict"] == "amber", done["summary"]
    refuser = next(j for j in done["judges"] if j["judge"] == "eye-refuser")
    talker = next(j for j in done["judges"] if j["judge"] == "eye-talker")
    assert refuser["passed"] is None
    assert [q["ask"] for q in refuser["questions"]] == list(ASKS.values())
    assert "questions" not in talker  # it answered them itself

    for page in (f"/evaluations/{done['id']}", f"/review?id={done['id']}"):
        text = browser.get(page).text
        panel = text[text.index('data-judge="eye-refuser"') :]
        panel = panel[: panel.index("</article>")]
        assert "Check by eye" in panel, page
        assert all(html.escape(ask) in panel for ask in ASKS.values()), page
        assert panel.count('type="checkbox"') == len(ASKS), page
        # The talker's reasoning keeps its lines (the browser test checks they show as lines).
        assert "\n".join(html.escape(line) for line in LINES) in text, page


def test_an_amber_evaluation_links_to_its_queue_item_while_it_waits(vision) -> None:
    base, browser = vision
    evaluation_id = evaluate(base)["id"]
    assert f'href="/review?id={evaluation_id}"' in browser.get(f"/evaluations/{evaluation_id}").text
    decided = httpx.post(f"{base}/v1/review/{evaluation_id}/decision", json={"decision": "reject"}, timeout=30)
    assert decided.status_code == 200, decided.text
    assert f'href="/review?id={evaluation_id}"' not in browser.get(f"/evaluations/{evaluation_id}").text


def test_the_dashboard_shows_each_judges_agreement_and_kappa(vision) -> None:
    base, browser = vision
    for decision in ("approve", "reject"):
        evaluation_id = evaluate(base)["id"]
        decided = httpx.post(f"{base}/v1/review/{evaluation_id}/decision", json={"decision": decision}, timeout=30)
        assert decided.status_code == 200, decided.text
    stats = browser.get("/review/stats").text
    dashboard = browser.get("/dashboard").text
    judges = re.findall(r'<tr data-judge="([^"]+)">', stats)
    assert "eye-talker" in judges, judges
    for name in judges:
        agreement = re.search(rf'data-judge="{name}">.*?data-metric="agreement">([^<]+)<', stats, re.S)
        shown = re.search(rf'data-metric="judge_agreement" data-key="{name}">([^<]+)<', dashboard)
        assert agreement and shown, name
        assert shown.group(1) == agreement.group(1)
        kappa = re.search(rf'data-metric="judge_kappa" data-key="{name}">(.*?)</td>', dashboard, re.S)
        assert kappa and (re.fullmatch(r"-?\d\.\d\d", kappa.group(1)) or "needs 10" in kappa.group(1)), kappa


def same_origin_assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r"url: ?['\"]([^'\"]+)['\"]", page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_load_nothing_from_another_site(client, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assets = same_origin_assets(page.text)
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        assert client.get(asset).status_code == 200, asset
    assert "cdn." not in page.text and "fonts.googleapis" not in page.text


def test_every_page_has_a_favicon(client) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/")
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    login = client.get("/login").text
    linked = re.findall(r'<link rel="icon" href="([^"]+)"', login)
    assert linked
    for href in linked:
        answer = client.get(href)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/"), href
