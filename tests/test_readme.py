"""The commands README.md shows keep working: each `sentinel` command in it is run as written."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from tests.conftest import REPO, clean_env, start_server
from tests.pages.login import log_in


def shell_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text()
    return re.findall(r"```sh\n(.*?)```", readme, flags=re.S)


def commands(prefix: str) -> list[str]:
    found = []
    for block in shell_blocks():
        joined = block.replace("\\\n", " ")
        found += [line.strip() for line in joined.splitlines() if line.strip().startswith(prefix)]
    return found


def test_readme_starts_with_the_two_commands() -> None:
    first, second = shell_blocks()[:2]
    assert first.strip() == "./scripts/setup && .venv/bin/sentinel serve"
    assert second.strip() == "./scripts/setup --dev && .venv/bin/python -m pytest"
    ci = (REPO / ".ci" / "run").read_text()
    assert second.strip() in ci


def test_readme_cli_commands_run(tmp_path) -> None:
    found = commands(".venv/bin/sentinel eval") + commands(".venv/bin/sentinel rubrics")
    assert len(found) >= 3
    # Run where the reports they write land in a scratch folder, not in the repository.
    for name in (".venv", "fixtures"):
        (tmp_path / name).symlink_to(REPO / name)
    for command in found:
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, env=clean_env())
        # `sentinel eval` exits 1 when an image is at or past --fail-on (the README's examples include red ones).
        gated = result.returncode == 1 and "failing (--fail-on" in result.stderr and "error:" not in result.stderr
        assert result.returncode == 0 or gated, (command, result.stderr)
        assert result.stdout.strip(), command
    # The CI example writes its three reports.
    assert {p.name for p in tmp_path.iterdir()} >= {"results.jsonl", "junit.xml", "report.html"}


def shown_verdict(marker: str) -> tuple[str, str]:
    """The verdict and the start of the summary the README shows on the `# →` line that follows ``marker``."""
    readme = (REPO / "README.md").read_text()
    line = next(row for row in readme.split(marker, 1)[1].splitlines() if row.startswith("# →"))
    verdict = re.search(r'"verdict": "(\w+)"', line)
    summary = re.search(r'"summary": "([^"…]*)', line)
    assert verdict is not None, line
    return verdict.group(1), summary.group(1).strip() if summary else ""


def test_readme_product_verdicts_are_what_eval_prints() -> None:
    readme = (REPO / "README.md").read_text()
    table = dict(re.findall(r"^\| `([\w-]+\.jpg)` \| (green|amber|red) \|", readme, flags=re.M))
    assert len(table) == 6, table
    [command] = [c for c in commands(".venv/bin/sentinel eval") if "fixtures/product-white-background/*.jpg" in c]
    result = subprocess.run(
        ["bash", "-c", command + " --json --fail-on never"], cwd=REPO, capture_output=True, text=True, env=clean_env()
    )
    assert result.returncode == 0, result.stderr
    printed = {Path(d["image"]).name: d["verdict"] for d in map(json.loads, result.stdout.splitlines())}
    assert printed == table


def test_readme_curl_walkthrough(tmp_path) -> None:
    [post] = [c for c in commands("curl") if "-F image=@" in c]
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp_path)), tmp_path / "serve.log")
    try:
        command = post.replace("http://127.0.0.1:8000", base)
        result = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True)
        created = httpx.Response(202, content=result.stdout).json()
        assert created["status"] == "judging", result.stdout
        done = httpx.get(f"{base}/v1/evaluations/{created['id']}?wait=30", timeout=40).json()
        verdict, summary = shown_verdict("curl -s 'http://127.0.0.1:8000/v1/evaluations/ev_…?wait=30'")
        assert (done["verdict"], done["summary"][: len(summary)]) == (verdict, summary)
        assert "OCR read 'OPENN 24/7', expected 'OPEN 24/7'" in summary
    finally:
        server.stop()


def test_readme_generate_command_runs(tmp_path) -> None:
    [command] = commands(".venv/bin/sentinel generate")
    command = command.replace(".venv/bin/sentinel", str(REPO / ".venv" / "bin" / "sentinel"))
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "generated").glob("*.png"))) == 2


def test_readme_fallback_demo_falls_back(tmp_path) -> None:
    # Pasted as written, the offline demo shows a fallback: the first candidate's 429, the second's image.
    [block] = [b for b in shell_blocks() if "routes-fallback.yaml" in b]
    script = block.replace(".venv/bin/sentinel", str(REPO / ".venv" / "bin" / "sentinel"))
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), COLUMNS="200")
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "rate_limited" in shown and "served by local:backup" in shown, shown


def test_readme_python_sdk_snippet_runs(tmp_path) -> None:
    readme = (REPO / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "OpenAI(" in b)
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp_path)), tmp_path / "serve.log")
    try:
        code = snippet.replace("http://127.0.0.1:8000", base)
        result = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        url = result.stdout.strip()
        assert url.startswith(f"{base}/v1/images/")
        assert httpx.get(url).headers["content-type"] == "image/png"
    finally:
        server.stop()


def test_readme_judged_sdk_snippet_with_params_runs(tmp_path) -> None:
    # The documented `sentinel` keys work as shown: a text-render request with its text param, judged green.
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    setup = next(b for b in blocks if "OpenAI(" in b)
    [judged] = [b for b in blocks if '"text-render"' in b and "extra_body" in b]
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp_path)), tmp_path / "serve.log")
    try:
        code = (setup.split("images = ")[0] + judged).replace("http://127.0.0.1:8000", base)
        python = str(REPO / ".venv" / "bin" / "python")
        result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "green", result.stdout
    finally:
        server.stop()


def test_readme_webhook_verification_snippet_accepts_our_signature() -> None:
    import time

    from sentinel.webhooks.service import sign

    readme = (REPO / "README.md").read_text()
    [snippet] = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "def valid(" in b]
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    body = b'{"type": "job.finished"}'
    header = sign("s3cret-for-the-readme-test", int(time.time()), body)
    assert namespace["valid"]("s3cret-for-the-readme-test", header, body)
    assert not namespace["valid"]("s3cret-for-the-readme-test", header, body + b"!")


def test_readme_job_curl_runs(tmp_path) -> None:
    [post] = [c for c in commands("curl") if "/v1/jobs -H" in c]
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp_path)), tmp_path / "serve.log")
    try:
        command = post.replace("http://127.0.0.1:8000", base)
        first = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        again = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        created = httpx.Response(202, content=first.stdout).json()
        assert created["state"] == "queued", first.stdout
        assert httpx.Response(202, content=again.stdout).json()["id"] == created["id"]
        done = httpx.get(f"{base}/v1/jobs/{created['id']}?wait=30", timeout=40).json()
        assert done["state"] == "done"
        assert done["verdict"] == shown_verdict("curl -s 'http://127.0.0.1:8000/v1/jobs/job_…?wait=30'")[0]
    finally:
        server.stop()


def test_readme_review_login_and_decision_curl(tmp_path) -> None:
    [show_keys] = commands("cat .sentinel/reviewer-keys")
    [decide] = [c for c in commands("curl") if "/v1/review/" in c]
    # No SENTINEL_DATA_DIR: the default .sentinel folder, in the folder `serve` runs from.
    server, base = start_server(clean_env(), tmp_path / "serve.log", cwd=tmp_path)
    try:
        assert str(tmp_path / ".sentinel" / "reviewer-keys") in server.output()
        keys = subprocess.run(["bash", "-c", show_keys], cwd=tmp_path, capture_output=True, text=True).stdout
        [admin_key] = [line.split(":", 1)[1] for line in keys.splitlines() if line.startswith("admin:")]
        with httpx.Client(base_url=base) as browser:
            login = log_in(browser, admin_key)
            assert (login.status_code, login.headers["location"]) == (303, "/review")
            assert browser.get("/review").status_code == 200

        image = (REPO / "fixtures" / "product-white-background" / "graded" / "fill-82.jpg").read_bytes()
        created = httpx.post(
            f"{base}/v1/evaluations", data={"task": "product-white-background"}, files={"image": ("p.jpg", image)}
        ).json()
        assert httpx.get(f"{base}/v1/evaluations/{created['id']}?wait=30", timeout=40).json()["verdict"] == "amber"
        command = decide.replace("http://127.0.0.1:8000", base).replace("ev_…", created["id"])
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        assert httpx.Response(200, content=result.stdout).json()["final_verdict"] == "red", result.stdout
        view = httpx.get(f"{base}/v1/evaluations/{created['id']}").json()
        assert view["review"]["note"] == "label is cut off"
    finally:
        server.stop()


def test_readme_key_commands_run(tmp_path) -> None:
    found = commands(".venv/bin/sentinel keys")
    assert [c.split()[2] for c in found] == ["create", "create", "list", "revoke"]
    outputs = []
    for command in found:
        command = command.replace(".venv/bin/sentinel", str(REPO / ".venv" / "bin" / "sentinel"))
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, env=clean_env())
        assert result.returncode == 0, (command, result.stderr)
        outputs.append(result.stdout)
    listed = outputs[2]
    assert outputs[0].startswith("snt_") and "ci-bot" in listed and outputs[0].strip() not in listed
    assert "acme-web" in listed and "acme" in listed.split("acme-web", 1)[1]  # its tenant, in the list


def test_readme_lists_the_rule_of_every_constrained_setting() -> None:
    from sentinel.settings import Settings, env_name, rule_of

    table = (REPO / "README.md").read_text().split("| variable | rule |", 1)[1].split("\n\n", 1)[0]
    documented = dict(re.findall(r"^\| `(SENTINEL_\w+)` \| ([^|]+) \|$", table, flags=re.M))
    expected = {env_name(field): rule for field in Settings.model_fields if (rule := rule_of(field))}
    assert expected, "no setting has a rule: rule_of is broken"
    wrong = {name: (documented.get(name), rule) for name, rule in expected.items() if documented.get(name) != rule}
    assert not wrong, f"README's rules table, as (documented, actual): {wrong}"
