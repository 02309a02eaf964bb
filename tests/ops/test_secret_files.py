"""Secrets Sentinel makes for itself in the data folder (webhook signing, review sessions, reviewer keys): a process
that starts while another is writing one reads the whole secret, never an empty file."""

from __future__ import annotations

import stat
from pathlib import Path

from sentinel.keyfiles import read_or_create


def test_a_process_starting_while_another_writes_the_secret_reads_the_whole_secret(tmp_path: Path) -> None:
    path = tmp_path / "data" / "webhook-secret"
    seen_meanwhile: list[str] = []

    def slow_make() -> str:
        # Another process starts while this one is still making its secret.
        seen_meanwhile.append(read_or_create(path, lambda: "secret-of-the-other-process"))
        return "secret-of-this-process"

    mine = read_or_create(path, slow_make)
    assert seen_meanwhile == ["secret-of-the-other-process"]
    assert mine == "secret-of-the-other-process", "both processes must sign with one secret"
    assert path.read_text() == "secret-of-the-other-process"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["webhook-secret"], "no draft is left behind"


def test_an_existing_secret_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "session-secret"
    path.write_text("kept\n")
    assert read_or_create(path, lambda: "new") == "kept\n"
