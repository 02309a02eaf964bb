"""`sentinel doctor`: every check of a good deployment passes; a broken one is told what is wrong and what to do."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.ops.doctor import CheckResult, run_checks
from sentinel.settings import Settings
from tests.conftest import free_port


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def test_the_embedded_default_passes(tmp_path: Path) -> None:
    results = by_name(run_checks(Settings(data_dir=tmp_path)))
    assert all(result.ok for result in results.values()), [r for r in results.values() if not r.ok]
    for name in ("settings", "rubrics", "judges", "routes", "database", "redis", "blob store", "bind"):
        assert name in results
    assert "127.0.0.1" in results["bind"].detail
    assert "in-process" in results["redis"].detail


def test_a_broken_deployment_names_each_problem(tmp_path: Path) -> None:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    (rubrics / "broken.yaml").write_text("id: broken\ntitle: Broken\ncriteria:\n  - id: [unclosed\n")
    blocker = tmp_path / "blobs-file"
    blocker.write_text("a file where the blob folder should be")
    settings = Settings(
        data_dir=tmp_path,
        rubrics_dir=rubrics,
        routes=tmp_path / "missing-routes.yaml",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        blob_dir=blocker,
    )
    started = time.monotonic()
    results = by_name(run_checks(settings, timeout=2))
    assert time.monotonic() - started < 10
    failed = {name for name, result in results.items() if not result.ok}
    assert {"rubrics", "routes", "redis", "blob store", "SENTINEL_WEBHOOK_SECRET", "SENTINEL_SESSION_SECRET"} <= failed
    assert "broken.yaml" in results["rubrics"].detail
    assert "missing-routes.yaml" in results["routes"].detail
    assert "SENTINEL_WEBHOOK_SECRET" in results["SENTINEL_WEBHOOK_SECRET"].hint
    assert all(results[name].hint for name in failed), "every failure says what to do"


def test_a_default_model_without_any_key_fails(tmp_path: Path, monkeypatch) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "providers:\n  paid: {kind: openai, base_url: 'https://example.invalid/v1', api_key_env: DOCTOR_TEST_KEY}\n"
        "models:\n  house: {candidates: [{target: 'paid:gpt-image-1'}]}\n"
        "default_model: house\n"
    )
    monkeypatch.delenv("DOCTOR_TEST_KEY", raising=False)
    results = by_name(run_checks(Settings(data_dir=tmp_path, routes=routes)))
    assert results["provider paid"].status == "warn"
    assert not results["model house"].ok and "DOCTOR_TEST_KEY" in results["model house"].hint
    monkeypatch.setenv("DOCTOR_TEST_KEY", "sk-test")
    results = by_name(run_checks(Settings(data_dir=tmp_path, routes=routes)))
    assert results["provider paid"].status == "ok" and "model house" not in results


def test_the_command_exits_0_when_healthy_and_1_when_not(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["doctor"], env={"SENTINEL_DATA_DIR": str(tmp_path)})
    assert good.exit_code == 0, good.output
    assert "0 failed" in good.output
    bad = runner.invoke(
        app,
        ["doctor"],
        env={"SENTINEL_DATA_DIR": str(tmp_path), "SENTINEL_REDIS_URL": f"redis://127.0.0.1:{free_port()}"},
    )
    assert bad.exit_code == 1, bad.output
    assert "FAIL" in bad.output and "SENTINEL_WEBHOOK_SECRET" in bad.output
    unparsable = runner.invoke(
        app, ["doctor", "--json"], env={"SENTINEL_DATA_DIR": str(tmp_path), "SENTINEL_PORT": "x"}
    )
    assert unparsable.exit_code == 1
    assert "SENTINEL_PORT" in unparsable.output


def test_an_empty_postgres_database_is_a_warning(tmp_path: Path, fresh_database: str) -> None:
    results = by_name(run_checks(Settings(data_dir=tmp_path, database_url=fresh_database)))
    assert results["database"].status == "warn"
    assert "empty" in results["database"].detail and "sentinel migrate" in results["database"].hint


def test_a_missing_file_or_folder_is_answered_by_pointing_the_variable_elsewhere(tmp_path: Path) -> None:
    # "Fix the file at the line named" names no line when the file is not there at all.
    missing = tmp_path / "nope"
    settings = Settings(
        data_dir=tmp_path, routes=missing / "routes.yaml", judges_dir=str(missing), rubrics_dir=missing / "rubrics"
    )
    results = by_name(run_checks(settings, timeout=2))
    assert "point SENTINEL_ROUTES at an existing routing file" in results["routes"].hint, results["routes"]
    assert "point SENTINEL_JUDGES_DIR at existing folders" in results["judges"].hint, results["judges"]
    assert "point SENTINEL_RUBRICS_DIR at an existing folder" in results["rubrics"].hint, results["rubrics"]
    assert "line named" not in results["routes"].hint + results["judges"].hint + results["rubrics"].hint
    assert "without --host/--port" in results["bind"].detail


def test_doctor_makes_no_folder_where_it_is_run(tmp_path: Path) -> None:
    # Run from the wrong folder to see what is wrong, it left an empty .sentinel/blobs there.
    results = by_name(run_checks(Settings(data_dir=tmp_path / ".sentinel"), timeout=5))
    assert results["blob store"].ok and "first start creates it" in results["blob store"].detail
    assert list(tmp_path.iterdir()) == []


def test_a_stalled_database_fails_within_the_database_timeout_and_says_why(tmp_path: Path) -> None:
    # A server that accepts connections and never answers (a stalled PostgreSQL): the doctor's engine is held to
    # SENTINEL_DATABASE_TIMEOUT_SECONDS as the services' is, so the driver gives up and says why, rather than the
    # doctor's own wait running out with a connection still hanging.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        url = f"postgresql://sentinel:secret@127.0.0.1:{silent.getsockname()[1]}/sentinel"
        settings = Settings(data_dir=tmp_path, database_url=url, database_timeout_seconds=2)
        database = by_name(run_checks(settings, timeout=30))["database"]
    finally:
        silent.close()
    assert not database.ok
    assert "no answer within" not in database.detail, database.detail
    assert "OperationalError" in database.detail and "timeout" in database.detail, database.detail
    assert "secret" not in database.detail
