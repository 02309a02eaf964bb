"""`sentinel eval` over many images as a CI job runs it: real processes, real files, real reports."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageOps

from tests.conftest import FIXTURES, SENTINEL, clean_env, start_server

#: A task judged by the pixel judge alone (fast, no OCR) whose verdict follows the image's size: 600² green,
#: 480² amber (a little under the minimum), 100² red (a fifth of it).
SIZED_TASK = (
    "id: sized\ntitle: Sized\ncriteria:\n"
    "  - id: big\n    must: At least 512 px.\n    judge: pixels\n    check: min_size\n"
    "    settings: {min_longest_side: 512}\n"
)


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SENTINEL, *args], capture_output=True, text=True, env=env or clean_env(), cwd=cwd, timeout=300
    )


def photo(path: Path, name: str = "flower", side: int = 256) -> Path:
    image = ImageOps.fit(Image.open(FIXTURES / "photos" / f"{name}.jpg").convert("RGB"), (side, side))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def flat(path: Path, side: int, color: tuple[int, int, int] = (128, 128, 128)) -> Path:
    image = Image.new("RGB", (side, side), color)
    ImageDraw.Draw(image).ellipse((side // 4, side // 4, side * 3 // 4, side * 3 // 4), fill=(20, 20, 220))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def lines(text: str) -> list[dict]:
    documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(d, dict) for d in documents), text
    return documents


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Four good images (one in a sub-folder, one blank grey: red), a corrupt PNG and a text file to ignore."""
    shots = tmp_path / "shots"
    photo(shots / "flower.png", "flower")
    photo(shots / "china.png", "china")
    photo(shots / "nested" / "hopper.png", "grace_hopper")
    Image.new("RGB", (256, 256), (128, 128, 128)).save(shots / "grey.png")
    (shots / "corrupt.png").write_bytes((shots / "flower.png").read_bytes()[:300])
    (shots / "notes.txt").write_text("not an image, not judged")
    return shots


def test_a_folder_with_a_corrupt_file_judges_every_good_image_and_names_the_bad_one(folder: Path, tmp_path) -> None:
    reports = tmp_path / "reports"
    result = run(
        "eval", str(folder), "--task", "text-to-image",
        "--output", str(reports / "results.jsonl"), "--junit", str(reports / "junit.xml"),
        "--html", str(reports / "report.html"),
    )  # fmt: skip
    corrupt, grey = str(folder / "corrupt.png"), str(folder / "grey.png")
    good = sorted(str(p) for p in folder.rglob("*.png") if p.name != "corrupt.png")
    # A red image and an unjudged one fail the run (--fail-on red); the error names the file.
    assert result.returncode == 1, result.stderr
    assert f"error: {corrupt}: " in result.stderr and "Truncated File Read" in result.stderr
    assert "1 of 5 images red" in result.stderr and "1 could not be judged" in result.stderr
    assert "5 images in" in result.stdout

    documents = {d["image"]: d for d in lines((reports / "results.jsonl").read_text())}
    assert sorted(documents) == sorted([*good, corrupt])
    assert all(documents[path]["verdict"] in ("green", "amber", "red") for path in good)
    assert documents[grey]["verdict"] == "red"
    assert documents[corrupt]["verdict"] is None and "Truncated" in documents[corrupt]["error"]

    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert sorted(cases) == sorted(documents)
    assert {case.get("classname") for case in cases.values()} == {"text-to-image"}
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("5", "1", "1")
    failure = cases[grey].find("failure")
    assert failure is not None and failure.get("message", "").startswith("red: ")
    assert "not-blank (severe, critical, pixels)" in (failure.text or "")
    assert cases[corrupt].find("error") is not None
    green = [path for path in good if documents[path]["verdict"] == "green"]
    assert green and all(cases[path].find("failure") is None and cases[path].find("error") is None for path in green)

    page = (reports / "report.html").read_text()
    for path in documents:
        assert path in page
    assert page.count('<img src="data:image/jpeg;base64,') == 4  # the corrupt file has no thumbnail
    assert 'data-verdict="red"' in page and 'data-verdict="error"' in page and 'data-verdict="green"' in page
    assert "not-blank" in page and "severe" in page
    assert "<script src" not in page and "http://" not in page and "https://" not in page  # works from a file


def test_json_on_stdout_is_one_object_per_line_for_one_image_and_for_many(folder: Path) -> None:
    one = run("eval", str(folder / "flower.png"), "--task", "text-to-image", "--json")
    assert one.returncode == 0, one.stderr
    assert len(one.stdout.splitlines()) == 1
    [document] = lines(one.stdout)
    assert document["image"] == str(folder / "flower.png") and document["verdict"] == "green"

    many = run("eval", str(folder / "flower.png"), str(folder / "grey.png"), "--task", "text-to-image", "--json")
    assert [d["image"] for d in lines(many.stdout)] == [str(folder / "flower.png"), str(folder / "grey.png")]
    assert many.returncode == 1  # grey is red


def test_globs_expand_in_order_and_a_pattern_that_matches_nothing_is_named(folder: Path, tmp_path) -> None:
    result = run(
        "eval", str(folder / "*.png"), str(folder / "**" / "hop*.png"), str(tmp_path / "none" / "*.jpg"),
        "--task", "text-to-image", "--output", str(tmp_path / "r.jsonl"), "--fail-on", "never",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = [d["image"] for d in lines((tmp_path / "r.jsonl").read_text())]
    top = sorted(str(p) for p in folder.glob("*.png"))
    assert names == [*top, str(folder / "nested" / "hopper.png"), str(tmp_path / "none" / "*.jpg")]
    assert f"error: {tmp_path / 'none' / '*.jpg'}: no file matches this pattern" in result.stderr


def test_a_csv_manifest_gives_each_image_its_task_params_and_edit_inputs(tmp_path) -> None:
    suite = tmp_path / "suite"
    photo(suite / "images" / "flower.png")
    flat(suite / "images" / "grey.png", 256, (128, 128, 128))
    removal = FIXTURES / "object-removal"
    flat(suite / "edits" / "small-mask.png", 100)
    (suite / "manifest.csv").write_text(
        "image,task,params,source,mask\n"
        'images/flower.png,text-to-image,"{""width"": 256, ""height"": 256}",,\n'
        f"{removal / 'good.png'},object-removal,,{removal / 'source.png'},{removal / 'mask.png'}\n"
        f"{removal / 'good.png'},object-removal,,{removal / 'source.png'},edits/small-mask.png\n"
        "images/grey.png,no-such-task,,,\n"
        "images/missing.png,text-to-image,,,\n"
        'images/flower.png,text-to-image,"{""width"": ",,\n'
    )
    result = run("eval", "--manifest", str(suite / "manifest.csv"), "--json")
    assert result.returncode == 1, result.stderr
    documents = lines(result.stdout)
    assert [d["image"] for d in documents] == [
        str(suite / "images" / "flower.png"),
        str(removal / "good.png"),
        str(removal / "good.png"),
        str(suite / "images" / "grey.png"),
        str(suite / "images" / "missing.png"),
        str(suite / "images" / "flower.png"),
    ]
    flower, removed, wrong_mask, unknown, missing, broken = documents
    assert (flower["verdict"], flower["params"]) == ("green", {"width": 256, "height": 256})
    assert (removed["task"], removed["verdict"]) == ("object-removal", "green")
    assert "the mask is 100×100 but the source is 512×384" in wrong_mask["error"]
    assert "unknown task 'no-such-task'" in unknown["error"]
    assert "No such file" in missing["error"]
    assert "manifest.csv:7: 'params' is not valid JSON" in broken["error"]
    for document in (wrong_mask, unknown, missing, broken):
        assert f"error: {document['image']}:" in result.stderr


def test_a_jsonl_manifest_and_task_from_the_command_line(tmp_path) -> None:
    photo(tmp_path / "a.png")
    Image.new("RGB", (256, 256), (128, 128, 128)).save(tmp_path / "b.png")  # blank: red
    (tmp_path / "suite.jsonl").write_text(
        '{"image": "a.png", "params": {"width": 256, "height": 256}}\n'
        "\n"
        '{"image": "b.png", "task": "text-to-image"}\n'
        "[1, 2]\n"
        '{"task": "text-to-image"}\n'
    )
    result = run("eval", "--manifest", str(tmp_path / "suite.jsonl"), "--task", "text-to-image", "--json")
    first, second, not_object, no_image = lines(result.stdout)
    assert (first["task"], first["verdict"], first["params"]) == (
        "text-to-image",
        "green",
        {"width": 256, "height": 256},
    )
    assert (second["image"], second["verdict"]) == (str(tmp_path / "b.png"), "red")
    assert not_object["image"] == f"{tmp_path / 'suite.jsonl'}:4" and "expected a JSON object" in not_object["error"]
    assert no_image["image"] == f"{tmp_path / 'suite.jsonl'}:5" and "no 'image'" in no_image["error"]


@pytest.mark.parametrize(
    ("manifest", "text", "words"),
    [
        ("m.csv", "picture,task\na.png,text-to-image\n", "must be a header with an 'image' column"),
        ("m.csv", "image,tsak\na.png,text-to-image\n", "unknown field 'tsak'"),
        ("m.jsonl", '{"image": "a.png", "mask_path": "m.png"}\n', "unknown field 'mask_path'"),
        ("missing.csv", None, "No such file"),
    ],
)
def test_a_manifest_that_cannot_be_read_stops_the_command_with_exit_2(tmp_path, manifest, text, words) -> None:
    if text is not None:
        (tmp_path / manifest).write_text(text)
    result = run("eval", "--manifest", str(tmp_path / manifest), "--json")
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and result.stdout == ""


@pytest.fixture
def sized(tmp_path: Path) -> tuple[dict[str, str], dict[str, Path]]:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    (rubrics / "sized.yaml").write_text(SIZED_TASK)
    images = {
        "green": flat(tmp_path / "green.png", 600),
        "amber": flat(tmp_path / "amber.png", 480),
        "red": flat(tmp_path / "red.png", 100),
    }
    return clean_env(SENTINEL_RUBRICS_DIR=str(rubrics)), images


@pytest.mark.parametrize(
    ("verdicts", "fail_on", "code"),
    [
        (["green", "amber"], "red", 0),
        (["green", "amber", "red"], "red", 1),
        (["green"], "amber", 0),
        (["green", "amber"], "amber", 1),
        (["red", "amber"], "never", 0),
    ],
)
def test_fail_on_sets_the_exit_code(sized, tmp_path, verdicts, fail_on, code) -> None:
    env, images = sized
    junit = tmp_path / "junit.xml"
    paths = [str(images[v]) for v in verdicts]
    result = run("eval", *paths, "--task", "sized", "--fail-on", fail_on, "--junit", str(junit), env=env)
    assert result.returncode == code, result.stdout + result.stderr
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    for verdict, path in zip(verdicts, paths, strict=True):
        failed = cases[path].find("failure") is not None
        # Red is a failed case; amber only when the run fails on amber.
        assert failed == (verdict == "red" or (verdict == "amber" and fail_on == "amber")), (verdict, fail_on)


def test_an_input_that_cannot_be_judged_fails_the_run_unless_fail_on_never(sized, tmp_path) -> None:
    env, images = sized
    missing = tmp_path / "missing.png"
    gated = run("eval", str(images["green"]), str(missing), "--task", "sized", env=env)
    assert gated.returncode == 1 and f"error: {missing}: No such file" in gated.stderr
    assert "1 could not be judged" in gated.stderr
    report_only = run("eval", str(images["green"]), str(missing), "--task", "sized", "--fail-on", "never", env=env)
    assert report_only.returncode == 0 and f"error: {missing}: No such file" in report_only.stderr
    wrong = run("eval", str(images["green"]), "--task", "sized", "--fail-on", "yellow", env=env)
    assert wrong.returncode == 2 and "--fail-on takes red, amber or never" in wrong.stderr


def test_a_problem_shared_by_every_image_is_a_usage_error_before_any_is_judged(sized, tmp_path) -> None:
    env, images = sized
    for args, words in [
        (("--task", "nope"), "unknown task 'nope'"),
        (("--task", "object-removal", "--source", str(images["green"]), "--mask", str(images["amber"])),
         "the mask is 480×480 but the source is 600×600"),
        ((), "--task is required"),
    ]:  # fmt: skip
        result = run("eval", str(images["green"]), str(images["red"]), *args, "--json", env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr and result.stdout == "", args


def test_eval_against_a_server_with_an_api_key(folder: Path, tmp_path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    created = run("keys", "create", "--name", "ci", "--scopes", "evaluate", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    generating = run("keys", "create", "--name", "gen", "--scopes", "generate", env=env).stdout.strip()
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        paths = [str(folder / "flower.png"), str(folder / "grey.png"), str(folder / "corrupt.png")]
        refused = run("eval", *paths, "--task", "text-to-image", "--server", base, "--json", env=clean_env())
        # No key where keys are required: the command's mistake, found once before any image is sent.
        assert refused.returncode == 2 and refused.stdout == "", refused.stdout
        assert "refused the key: pass --api-key" in refused.stderr, refused.stderr
        # So is a key that may not evaluate (outside probe H8 F6: a 403 for every image, and exit 1).
        cannot = run(
            "eval", *paths, "--task", "text-to-image", "--server", base, "--json",
            env=clean_env(SENTINEL_API_KEY=generating),
        )  # fmt: skip
        assert cannot.returncode == 2 and cannot.stdout == "", cannot.stdout
        assert "does not let this key evaluate" in cannot.stderr and "'evaluate'" in cannot.stderr, cannot.stderr

        answered = run(
            "eval", *paths, "--task", "text-to-image", "--server", base, "--json", "--junit", str(tmp_path / "j.xml"),
            env=clean_env(SENTINEL_API_KEY=token),
        )  # fmt: skip
        assert answered.returncode == 1, answered.stderr
        flower, grey, corrupt = lines(answered.stdout)
        assert flower["id"].startswith("ev_") and (flower["verdict"], grey["verdict"]) == ("green", "red")
        assert flower["image"] == paths[0] and flower["stored_image"]["url"]
        assert "Truncated" in corrupt["error"] and "HTTP 422" in corrupt["error"]
        assert f"error: {paths[2]}:" in answered.stderr
        assert len(list(ET.parse(tmp_path / "j.xml").getroot().iter("testcase"))) == 3
        unreachable = run(
            "eval", paths[0], "--task", "text-to-image", "--server", "http://127.0.0.1:9", env=clean_env()
        )
        assert unreachable.returncode == 2 and "cannot reach the server" in unreachable.stderr
    finally:
        server.stop()


def test_an_eval_that_stops_early_leaves_garbage_collection_on_for_its_host_program() -> None:
    import gc

    from typer.testing import CliRunner

    from sentinel.cli import app

    result = CliRunner().invoke(app, ["eval", "--task", "no-such-task", "missing.png"])
    assert result.exit_code != 0
    assert gc.isenabled()


def test_a_folders_images_of_formats_not_taken_are_named_not_judged_and_fail_the_gate(tmp_path) -> None:
    # A gate over a folder of camera or scanner output must not pass on images it never looked at.
    shots = tmp_path / "shots"
    flat(shots / "ok.png", 600)
    Image.open(shots / "ok.png").save(shots / "scan.tif")
    Image.open(shots / "ok.png").save(shots / "screen.bmp")
    Image.open(shots / "ok.png").convert("RGB").save(shots / "camera.jfif", "JPEG")
    (shots / "camera.json").write_text("{}")  # a sidecar: not an image, left out silently
    tasks = tmp_path / "rubrics"
    tasks.mkdir()
    (tasks / "sized.yaml").write_text(SIZED_TASK)
    env = clean_env(SENTINEL_RUBRICS_DIR=str(tasks), SENTINEL_DATA_DIR=str(tmp_path / "data"))
    result = run("eval", str(shots), "--task", "sized", "--json", env=env)
    assert result.returncode == 1, result.stderr
    for name, kind in (("scan.tif", ".tif"), ("screen.bmp", ".bmp")):
        assert f"error: {shots / name}: not judged: {kind} files are not a format Sentinel takes" in result.stderr
    judged = {Path(d["image"]).name: d["verdict"] for d in lines(result.stdout) if d.get("verdict")}
    assert judged == {"ok.png": "green", "camera.jfif": "green"}, result.stdout
    assert "camera.json" not in result.stdout + result.stderr


def test_a_missing_source_or_mask_is_named_by_its_path(tmp_path: Path) -> None:
    # "source: No such file or directory" left the reader to guess which file was meant.
    edit = FIXTURES / "object-removal"
    missing = tmp_path / "nope.png"
    for option in ("--source", "--mask"):
        given = {"--source": str(edit / "source.png"), "--mask": str(edit / "mask.png")} | {option: str(missing)}
        done = run("eval", str(edit / "good.png"), "--task", "object-removal", *[x for kv in given.items() for x in kv])
        assert done.returncode == 2, done.stderr
        assert f"{option.removeprefix('--')} {missing}: No such file or directory" in done.stderr, done.stderr
