"""The documentation's commands can't rot: the rubric example is validated and used, and every command in
README.md and docs/ is either run by a named test or marked as needing a service this machine doesn't have."""

from __future__ import annotations

import json
import re
import subprocess

from tests.conftest import REPO, SENTINEL, clean_env
from tests.test_readme import shell_blocks

#: Each README command (by its start) → the test that runs it (the literal command, or with smaller numbers).
RUN_BY = {
    "./scripts/setup && .venv/bin/sentinel serve": "tests/test_quickstart.py",
    "./scripts/setup --dev && .venv/bin/python -m pytest": ".ci/run (CI itself)",
    ".venv/bin/sentinel eval": "tests/test_readme.py::test_readme_cli_commands_run",
    ".venv/bin/sentinel generate": "tests/test_readme.py::test_readme_generate_command_runs",
    ".venv/bin/sentinel compare": "tests/compare/test_compare.py (the --check line as written, a run on fakes)",
    "curl -s -F task=text-render": "tests/test_readme.py::test_readme_curl_walkthrough",
    "curl -s 'http://127.0.0.1:8000/v1/evaluations/": "tests/test_readme.py::test_readme_curl_walkthrough",
    "curl -s http://127.0.0.1:8000/v1/jobs": "tests/test_readme.py::test_readme_job_curl_runs",
    "curl -s 'http://127.0.0.1:8000/v1/jobs/": "tests/test_readme.py::test_readme_job_curl_runs",
    "curl -s -F task=object-removal": "tests/jobs/test_edit_jobs.py::test_readme_edit_job_curl_runs",
    "cat .sentinel/reviewer-keys": "tests/test_readme.py::test_readme_review_login_and_decision_curl",
    "curl -s -X POST http://127.0.0.1:8000/v1/review/": (
        "tests/test_readme.py::test_readme_review_login_and_decision_curl"
    ),
    ".venv/bin/sentinel keys": "tests/test_readme.py::test_readme_key_commands_run",
    ".venv/bin/sentinel bench": "tests/test_bench.py, tests/cli/test_bench_progress.py (smaller numbers)",
    ".venv/bin/sentinel serve --host 0.0.0.0": "tests/integration (serve + worker on Redis and PostgreSQL)",
    ".venv/bin/sentinel worker": "tests/integration (serve + worker on Redis and PostgreSQL)",
    "export SENTINEL_": "tests/integration (the same settings, set per test)",
    "sentinel doctor": "tests/ops/test_doctor.py",
    "rabbitmqctl ": "tests/integration/test_rabbitmq_postgres.py (a virtual host of its own, as documented)",
    "sentinel migrate": "tests/ops/test_migrations.py::test_migrate_command_upgrades_and_prints_sql",
    ".venv/bin/sentinel storage": "tests/store/test_storage_cli.py",
    # README's offline fallback demo: the route file its heredoc writes, then the command.
    "cat > routes-fallback.yaml": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    "SENTINEL_ROUTES=routes-fallback.yaml": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    "providers:": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    "local: {kind: local}": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    "models:": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    "flaky:": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    "candidates:": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    '- {target: "local:procedural"': "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    '- target: "local:backup"': "tests/test_readme.py::test_readme_fallback_demo_falls_back",
    "default_model: flaky": "tests/test_readme.py::test_readme_fallback_demo_falls_back",
}
#: Commands that need accounts or services no test machine has; their configuration is tested against fakes.
NEEDS_OUTSIDE_SERVICES = {
    "export OPENAI_API_KEY": "real provider keys (tests/judges/test_example_panel.py uses fakes)",
    ".venv/bin/sentinel judges test gpt-6-luna": "OpenAI (tests/judges/test_vision_in_service.py runs judges test)",
    "docker compose": "a Docker engine (tests/ops/test_deploy_files.py checks compose.yaml against the settings)",
    # The lines of the .env file the Compose section writes with a heredoc:
    "cat > .env <<EOF": "a Docker engine",
    "POSTGRES_PASSWORD=": "a Docker engine",
    "SENTINEL_WEBHOOK_SECRET=": "a Docker engine",
    "SENTINEL_SESSION_SECRET=": "a Docker engine",
    "SENTINEL_REVIEWER_KEYS=": "a Docker engine",
    "OPENAI_API_KEY=": "a Docker engine",
    "EOF": "a Docker engine",
    ".venv/bin/python -m sentinel.db.migrate revision": "a developer's model change (it writes a new revision file)",
}


def doc_blocks() -> list[str]:
    blocks = shell_blocks()
    for page in sorted((REPO / "docs").glob("*.md")):
        blocks += re.findall(r"```(?:sh|bash)\n(.*?)```", page.read_text(), flags=re.S)
    return blocks


def readme_commands() -> list[str]:
    lines = []
    for block in doc_blocks():
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def test_every_documented_command_is_run_by_a_test_or_needs_an_outside_service() -> None:
    known = {**RUN_BY, **NEEDS_OUTSIDE_SERVICES}
    unaccounted = [line for line in readme_commands() if not any(line.startswith(p) for p in known)]
    assert not unaccounted, f"documented commands no test runs (add a test, then a RUN_BY entry): {unaccounted}"
    for place in RUN_BY.values():
        path = place.split("::")[0].split(" ")[0].rstrip(",")
        assert (REPO / path).exists(), place


def test_the_rubric_example_validates_and_judges(tmp_path) -> None:
    readme = (REPO / "README.md").read_text()
    [example] = [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if b.startswith("id: poster-text")]
    (tmp_path / "poster-text.yaml").write_text(example)
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_RUBRICS_DIR=str(tmp_path))
    validate = subprocess.run(
        [SENTINEL, "rubrics", "validate", str(tmp_path / "poster-text.yaml")], env=env, capture_output=True, text=True
    )
    assert validate.returncode == 0, validate.stderr
    image = REPO / "fixtures" / "text-render" / "misspelled.jpg"
    judged = subprocess.run(
        [SENTINEL, "eval", str(image), "--task", "poster-text", "--param", "text=OPEN 24/7", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert judged.returncode == 1, judged.stderr  # red: `sentinel eval` fails on red by default
    result = json.loads(judged.stdout)
    assert result["verdict"] == "red" and "OPENN" in result["summary"]
