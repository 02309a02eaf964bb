"""The CLI starts fast because it imports only what a command needs. Checked by what a process loads, not by a
clock (timings depend on the machine; `sentinel bench cli` and README's benchmarks give them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import clean_env, png_bytes

#: What `sentinel --help` must not load: the judges' numerics and OCR, the database layer, the web framework, the
#: broker and HTTP clients.
HEAVY = (
    "numpy", "PIL", "cv2", "skimage", "rapidocr", "onnxruntime", "sqlalchemy", "sqlmodel", "alembic", "fastapi",
    "starlette", "uvicorn", "dramatiq", "redis", "pika", "httpx", "boto3", "jinja2", "yaml",
)  # fmt: skip
#: What judging in-process must not load: it needs no database, web framework, broker or HTTP client.
NOT_FOR_JUDGING = ("sqlalchemy", "sqlmodel", "alembic", "fastapi", "starlette", "uvicorn", "dramatiq", "redis", "pika",
                   "httpx", "boto3")  # fmt: skip

#: Runs the CLI in this interpreter as `sentinel ARGS...`, then prints which of the modules it loaded.
PROBE = """
import json, sys
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["sentinel", *args]
from sentinel.cli import app
try:
    app()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("\\nLOADED " + json.dumps({"code": code, "loaded": sorted(m for m in watched if m in sys.modules)}))
"""


def loaded_by(args: list[str], watched: tuple[str, ...], env: dict[str, str] | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(watched)],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=120,
    )
    marker = [line for line in result.stdout.splitlines() if line.startswith("LOADED ")]
    assert marker, result.stdout + result.stderr
    return json.loads(marker[-1].removeprefix("LOADED "))


def test_help_and_a_mistyped_option_load_no_heavy_module() -> None:
    for args in (["--help"], ["eval", "--help"], ["bench", "--help"], ["eval", "--no-such-option"]):
        probe = loaded_by(args, HEAVY)
        assert probe["loaded"] == [], (args, probe)


def test_judging_an_image_in_process_loads_no_database_web_or_broker_module(tmp_path: Path) -> None:
    image = tmp_path / "one.png"
    image.write_bytes(png_bytes(256, 256))
    probe = loaded_by(["eval", str(image), "--task", "text-to-image", "--json"], NOT_FOR_JUDGING)
    assert probe["code"] == 0
    assert probe["loaded"] == []


def test_judging_on_a_server_loads_no_judge(tmp_path: Path) -> None:
    # Nothing answers on port 9: the command stops at once, having loaded only the HTTP client.
    image = tmp_path / "one.png"
    image.write_bytes(png_bytes(64, 64))
    probe = loaded_by(
        ["eval", str(image), "--task", "text-to-image", "--server", "http://127.0.0.1:9"],
        ("numpy", "PIL", "cv2", "rapidocr", "sqlalchemy", "sqlmodel", "fastapi", "dramatiq"),
    )
    assert probe["code"] == 2
    assert probe["loaded"] == []


def test_rapidocr_is_imported_with_its_model_table_built_once() -> None:
    # Most of rapidocr's import is building its model table into an OmegaConf tree, which it does twice; the text
    # judge hands both of its readers one tree, and leaves OmegaConf.load as it found it.
    code = """
from omegaconf import OmegaConf
before = OmegaConf.__dict__["load"]
from sentinel.evaluation.judges.text import read_words
import numpy as np
read_words(np.full((64, 64, 3), 255, dtype=np.uint8))
import rapidocr.inference_engine.base as base, rapidocr.utils.model_resolver as resolver
print(resolver._MODEL_CONFIG is base.InferSession.model_info, OmegaConf.__dict__["load"] is before)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert result.stdout.split() == ["True", "True"], result.stdout + result.stderr
