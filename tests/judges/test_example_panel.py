"""The example vision panel the README points to: it loads, and each judge's requests are ones the real APIs
accept (checked by our fakes, with each judge's base_url pointed at them)."""

from __future__ import annotations

import pytest
import yaml

from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import run_judge
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from sentinel_fakes import anthropic, chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.conftest import REPO
from tests.judges.test_vision_judges import GOOD, context

EXAMPLE = REPO / "examples" / "vision-panel"
KEYS = {"OPENAI_API_KEY": "sk-openai-example", "GEMINI_API_KEY": "gm-example", "ANTHROPIC_API_KEY": "sk-ant-example"}


@pytest.fixture(autouse=True)
def keys(monkeypatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def test_the_example_panel_and_rubric_load_beside_the_builtin_judges() -> None:
    panel = Panel.from_dirs([DATA_ROOT / "judges", EXAMPLE / "judges"])
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics", EXAMPLE / "rubrics").get("product-white-background")
    first, escalation = panel.split(rubric)
    assert {j.name for j in first} >= {"pixels", "layout", "text", "gpt-6-luna", "gemini-flash", "ollama-qwen"}
    assert [j.name for j in escalation] == ["claude-sonnet"]
    assert [c.id for c in rubric.criteria if c.judge == "vision"] == ["product-intact", "no-generation-artifacts"]


@pytest.mark.parametrize("judge_file", sorted(p.name for p in (EXAMPLE / "judges").glob("*.yaml")))
def test_each_example_judge_speaks_its_api(tmp_path, judge_file) -> None:
    config = yaml.safe_load((EXAMPLE / "judges" / judge_file).read_text())
    options = config["options"]
    api_key = KEYS.get(options.get("api_key_env", "")) or None  # a local Ollama needs none
    script = VisionScript(api_key=api_key, models={options["model"]})
    app = anthropic.create_app(script) if options["api"] == "anthropic" else chat.create_app(script)
    with serve(app) as fake:
        options["base_url"] = f"{fake.url}/v1"
        (tmp_path / judge_file).write_text(yaml.safe_dump(config))
        panel = Panel.from_dir(tmp_path)
        rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics", EXAMPLE / "rubrics").get("product-white-background")
        script.verdicts = {"product-intact": False}
        judge = panel.judges[0]
        vote = run_judge(judge, rubric, context(GOOD), panel.vision[judge.name])
    assert vote.passed is False, vote.reasoning
    assert [c["id"] for c in vote.criteria] == ["product-intact", "no-generation-artifacts"]
    assert len(script.requests) == 1
