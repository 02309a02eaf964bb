"""README's "Python client" examples run as written against a served Sentinel (the offline `local` provider), and
print what the README says they print (its `# →` lines; `…` stands for any text)."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO, clean_env, start_server

#: The address the README's examples use.
README_URL = "http://127.0.0.1:8000"


def client_examples() -> list[str]:
    section = (REPO / "README.md").read_text().split("\n## Python client\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def shown_output(example: str) -> list[str]:
    return [line.removeprefix("# → ") for line in example.splitlines() if line.startswith("# → ")]


def matches(printed: str, shown: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in shown.split("…")), printed) is not None


def test_the_matcher_reads_the_ellipsis_as_any_text() -> None:
    assert matches("red 1 quality issue (severe): OCR read it", "red 1 quality issue …")
    assert not matches("green 1 quality issue", "red 1 quality issue …")
    assert matches("done green", "done green") and not matches("done green!", "done green")


def test_readme_python_client_examples_run_and_print_what_they_show(tmp_path) -> None:
    examples = client_examples()
    assert len(examples) >= 5, "evaluate a file, a job, a review decision, async usage, listing"
    assert all(shown_output(example) for example in examples), "each example shows what it prints"
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")), tmp_path / "serve.log")
    try:
        for example in examples:
            code = example.replace(README_URL, base)
            result = subprocess.run(
                [str(REPO / ".venv" / "bin" / "python"), "-c", code],
                cwd=REPO,
                capture_output=True,
                text=True,
                env=clean_env(),
                timeout=300,
            )
            assert result.returncode == 0, (example, result.stderr)
            printed = result.stdout.splitlines()
            shown = [line.replace(README_URL, base) for line in shown_output(example)]
            assert len(printed) == len(shown), (example, printed)
            wrong = [(p, s) for p, s in zip(printed, shown, strict=True) if not matches(p, s)]
            assert not wrong, (example, wrong)
    finally:
        server.stop()
