"""The `sentinel` command as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SENTINEL, clean_env, png_bytes


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SENTINEL, *args], capture_output=True, text=True, env=env or clean_env(), cwd=cwd, timeout=120
    )


def test_eval_json_prints_one_object_with_the_documented_fields(tmp_path) -> None:
    image = tmp_path / "flat.png"
    from PIL import Image

    Image.new("RGB", (300, 200), (250, 250, 250)).save(image)
    result = run(
        "eval", str(image), "--task", "text-to-image", "--param", "width=300", "--param", "height=200", "--json"
    )
    assert result.returncode == 1, result.stderr  # red, and --fail-on is red by default
    [line] = result.stdout.splitlines()  # JSON Lines: one object, one line
    document = json.loads(line)
    assert document["verdict"] == "red"
    assert document["failed_judges"] >= 1
    assert "blank or near-uniform" in document["summary"]
    judges = {j["judge"]: j for j in document["judges"]}
    assert set(judges) == {"pixels", "text"}
    criterion = next(c for c in judges["pixels"]["criteria"] if c["id"] == "not-blank")
    assert criterion["passed"] is False
    assert set(criterion) >= {"id", "passed", "measured", "threshold", "detail"}
    assert isinstance(judges["pixels"]["passed"], bool)


def test_eval_several_images_prints_a_summary_table(tmp_path) -> None:
    paths = []
    for index, color in enumerate([(10, 120, 200), (128, 128, 128)]):
        path = tmp_path / f"img{index}.png"
        path.write_bytes(png_bytes(256, 256, color))
        paths.append(str(path))
    result = run("eval", *paths, "--task", "text-to-image", "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    assert "2 images in" in result.stdout
    for path in paths:
        assert Path(path).name in result.stdout
    as_json = run("eval", *paths, "--task", "text-to-image", "--json")
    documents = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [Path(d["image"]).name for d in documents] == ["img0.png", "img1.png"]


def test_eval_bad_input_is_named_on_stderr(tmp_path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n")
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes())
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(png_bytes(256, 256)[:300])
    # A file that cannot be judged is named with its error, and fails the run (exit 1) like a red verdict.
    for path, words in (
        (text, "text, not an image"),
        (truncated, "truncated"),
        (tmp_path / "missing.png", "No such file"),
    ):
        result = run("eval", str(path), "--task", "text-to-image")
        assert result.returncode == 1, (path, result.stdout, result.stderr)
        assert f"error: {path}: " in result.stderr and words in result.stderr, (path, result.stderr)
        assert result.stdout == "", path
    # A command that is wrong for every image is refused before any is read (exit 2).
    cases = [
        (("eval", str(good), "--task", "nope"), "unknown task 'nope'"),
        (("eval", str(good), "--task", "text-render"), "needs param 'text'"),
        (("eval", str(good), "--task", "object-removal"), "needs --source"),
        (("eval", str(good), "--task", "text-to-image", "--param", "width"), "key=value"),
    ]
    for args, words in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert result.stdout == "", args


def test_rubrics_list_show_and_validate(tmp_path) -> None:
    listing = run("rubrics", "list")
    assert listing.returncode == 0
    for task in ("text-to-image", "product-white-background", "text-render", "object-removal", "background-replace"):
        assert task in listing.stdout
    show = run("rubrics", "show", "text-render")
    assert "expected-text" in show.stdout and "text" in show.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "id: broken\ntitle: Broken\ncriteria:\n  - id: x\n    must: Something holds.\n    judge: pixels\n"
    )
    result = run("rubrics", "validate", str(broken))
    assert result.returncode == 2
    assert f"{broken}:4: criteria[0]: criterion 'x' needs a 'check' of judge kind 'pixels'" in result.stderr
    ok = run("rubrics", "validate", str(Path(__file__).parent.parent / "rubrics"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("✓") == 5


def test_user_rubrics_dir_adds_a_task(tmp_path) -> None:
    (tmp_path / "square-only.yaml").write_text(
        "id: square-only\ntitle: Square\ncriteria:\n"
        "  - id: big\n    must: At least 512 px.\n    judge: pixels\n    check: min_size\n"
        "    settings: {min_longest_side: 512}\n"
    )
    env = clean_env(SENTINEL_RUBRICS_DIR=str(tmp_path))
    assert "square-only" in run("rubrics", "list", env=env).stdout
    slightly_small, tiny = tmp_path / "slightly-small.png", tmp_path / "tiny.png"
    slightly_small.write_bytes(png_bytes(480, 480))
    tiny.write_bytes(png_bytes(100, 100))
    result = run("eval", str(slightly_small), str(tiny), "--task", "square-only", "--json", env=env)
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    # A little under the minimum is a person's call; a fifth of it is never shipped, so it regenerates.
    assert (first["verdict"], first["issues"][0]["severity"]) == ("amber", "mild")
    assert "longest side is 480 px, is below the 512 px minimum" in first["summary"]
    assert (second["verdict"], second["issues"][0]["severity"]) == ("red", "severe")


def test_worker_without_redis_explains_itself() -> None:
    result = run("worker")
    assert result.returncode == 2
    assert "SENTINEL_REDIS_URL" in result.stderr


def test_serve_refuses_to_start_with_a_broken_rubric(tmp_path) -> None:
    (tmp_path / "bad.yaml").write_text("id: bad\ntitle: Bad\ncriteria:\n  - id: a\n    must: ok ok\n    judge: pixel\n")
    result = subprocess.run(
        [SENTINEL, "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=clean_env(SENTINEL_RUBRICS_DIR=str(tmp_path), SENTINEL_DATA_DIR=str(tmp_path / "data")),
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:" in result.stderr
    assert "criteria[0]" in result.stderr
    assert not (tmp_path / "data").exists()


def test_generate_offline_writes_images_and_names_the_provider(tmp_path) -> None:
    result = run(
        "generate",
        "a green bottle on a white background",
        "--n",
        "2",
        "--size",
        "512x512",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "out").glob("*.png"))
    assert len(files) == 2
    assert "served by local:procedural" in result.stdout


def test_generate_shows_why_it_fell_back(tmp_path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "providers:\n  flaky: {kind: local}\n  steady: {kind: local}\n"
        "models:\n  demo:\n    sizes: ['256x256']\n    candidates:\n"
        "      - {target: 'flaky:procedural', params: {inject: rate_limited}}\n"
        "      - {target: 'steady:procedural'}\n"
        "default_model: demo\n"
    )
    env = clean_env(SENTINEL_ROUTES=str(routes))
    result = run("generate", "a blue star", "--size", "256x256", "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 0, result.stderr
    assert "rate_limited" in result.stdout and "injected 429" in result.stdout
    assert "served by steady:procedural" in result.stdout


def test_generate_errors(tmp_path) -> None:
    unknown = run("generate", "x", "--model", "dall-e-9")
    assert unknown.returncode == 2 and "model 'dall-e-9' does not exist" in unknown.stderr
    no_keys = run("generate", "x", "--model", "dall-e-3", "--out", str(tmp_path))
    assert no_keys.returncode == 1
    assert "OPENAI_API_KEY is not set" in no_keys.stderr


def test_rubrics_checks_lists_every_check_with_its_graded_measure_and_fix() -> None:
    from sentinel.evaluation.judges import KINDS

    result = run("rubrics", "checks")
    assert result.returncode == 0, result.stderr
    for kind in KINDS.values():
        for check in kind.checks.values():
            assert check.name in result.stdout
    assert "share of the border that is white" in result.stdout  # white_background's bands are on this measure
    assert "Use a seamless pure white" in result.stdout


@pytest.mark.parametrize(
    ("command", "variable", "value", "words"),
    [
        (["serve"], "SENTINEL_WEBHOOK_SECRET", "too-short", ["9 characters long", "at least 16 characters"]),
        (["worker"], "SENTINEL_PRESIGN_TTL_SECONDS", "20", ["is 20, too small", "at least 60"]),
        (["rubrics", "list"], "SENTINEL_SESSION_MAX_AGE_SECONDS", "soon", ["'soon'", "valid integer", "at least 60"]),
        (["keys", "list"], "SENTINEL_LOG_FORMAT", "xml", ["'xml'", "one of `text`, `json`"]),
        (["migrate"], "SENTINEL_SESSION_SECRET", "too-short", ["9 characters long", "at least 16 characters"]),
        (["serve"], "SENTINEL_FETCH_ALLOWED_NETWORKS", "10.0.0.0/33", ["'10.0.0.0/33'", "networks such as"]),
    ],
)
def test_a_bad_setting_stops_every_command_with_one_line(tmp_path, command, variable, value, words) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path), SENTINEL_REDIS_URL="redis://127.0.0.1:6379/0", **{variable: value})
    result = run(*command, env=env)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {variable} "), line
    for word in words:
        assert word in line, line
    assert "too-short" not in line  # a secret is described, never echoed


def test_serve_names_a_database_it_cannot_open_in_one_line(tmp_path) -> None:
    # As on a read-only volume holding the database, or a volume mounted over the file's path: named, no traceback.
    (tmp_path / "data" / "sentinel.db").mkdir(parents=True)
    result = run("serve", "--port", "0", env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{(tmp_path / 'data' / 'sentinel.db').resolve()}: SQLite cannot open or write" in result.stderr
    assert "SENTINEL_DATA_DIR must be a writable folder" in result.stderr


def test_serve_names_a_blob_folder_it_cannot_write_in_one_line(tmp_path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the blob folder should be")
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_BLOB_DIR=str(tmp_path / "not-a-folder"))
    result = run("serve", "--port", "0", env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot be written" in result.stderr
