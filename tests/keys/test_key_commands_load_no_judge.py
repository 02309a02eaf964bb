"""`sentinel keys create|list|revoke` touch rows only: they load no judge, rubric or image library (about a second
of CPU per command, paid by every script that makes keys). Checked by what the process loads, not by a clock."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli_speed import loaded_by
from tests.conftest import clean_env

JUDGING = ("numpy", "PIL", "rapidocr", "onnxruntime", "jinja2", "sentinel.evaluation.panel", "sentinel.rubrics.loader")


def test_creating_and_listing_keys_loads_no_judge(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    for args in (["keys", "create", "--name", "ci-bot"], ["keys", "list"], ["keys", "revoke", "ci-bot"]):
        probe = loaded_by(args, JUDGING, env)
        assert probe == {"code": 0, "loaded": []}, (args, probe)
