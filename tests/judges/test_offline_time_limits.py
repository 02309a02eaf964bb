"""Offline judges are held to their `timeout_seconds` like vision judges: past it the judge abstains and says so,
whatever stage (decoding, OCR) it was in."""

from __future__ import annotations

import io
from pathlib import Path

import yaml
from PIL import Image, ImageDraw, ImageFont

from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import run_judge, run_panel
from sentinel.rubrics.loader import load_rubric
from sentinel.settings import DATA_ROOT
from sentinel.store.images import inspect_image

#: Far below what decoding and reading a 3000² sign takes on any machine.
TINY_LIMIT = 0.05


def big_sign() -> bytes:
    picture = Image.new("RGB", (3000, 3000), (250, 250, 245))
    ImageDraw.Draw(picture).text((300, 1300), "OPEN 24/7", fill=(20, 20, 20), font=ImageFont.load_default(size=300))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def context(data: bytes) -> JudgeContext:
    info = inspect_image(data, max_bytes=50 << 20, max_pixels=40_000_000)
    return JudgeContext(
        image=ImageSource(info.sha256, info.mime, lambda: data, 40_000_000), params={"text": "OPEN 24/7"}
    )


def panel_with_limit(folder: Path, limit: float) -> Panel:
    folder.mkdir()
    for name in ("text", "pixels", "layout"):
        judge = yaml.safe_load((DATA_ROOT / "judges" / f"{name}.yaml").read_text())
        judge["timeout_seconds"] = limit if name == "text" else judge["timeout_seconds"]
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(judge))
    return Panel.from_dir(folder)


def test_an_offline_judge_past_its_limit_abstains_and_says_so(tmp_path) -> None:
    panel = panel_with_limit(tmp_path / "judges", TINY_LIMIT)
    rubric = load_rubric(DATA_ROOT / "rubrics" / "text-render.yaml")
    vote = run_judge(panel.get("text"), rubric, context(big_sign()))
    assert vote.passed is None
    assert vote.reasoning == f"abstained: took longer than its {TINY_LIMIT:g} s limit"
    assert vote.criteria == []


def test_the_verdict_is_never_green_with_a_judge_that_ran_out_of_time(tmp_path) -> None:
    panel = panel_with_limit(tmp_path / "judges", TINY_LIMIT)
    rubric = load_rubric(DATA_ROOT / "rubrics" / "text-render.yaml")
    verdict, votes = run_panel(panel, rubric, lambda judge: context(big_sign()), quorum_share=1.0)
    [text] = [v for v in votes if v.judge == "text"]
    assert text.passed is None and "took longer than its" in text.reasoning
    assert verdict.verdict != "green", verdict.summary


def test_an_offline_judge_within_its_limit_votes(tmp_path) -> None:
    panel = panel_with_limit(tmp_path / "judges", 60)
    rubric = load_rubric(DATA_ROOT / "rubrics" / "text-render.yaml")
    vote = run_judge(panel.get("text"), rubric, context(big_sign()))
    assert vote.passed is not None, vote.reasoning
