"""``sentinel bench gateway`` keeps the data of the Sentinel it measures under the default data folder
(``.sentinel/bench`` in the working directory), not in the system's temporary folder, and removes it when done."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.bench.gateway import store_folder


def test_the_bench_store_lives_under_the_data_folder_and_is_removed_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with store_folder() as folder:
        assert folder.parent == (tmp_path / ".sentinel" / "bench").resolve()
        images = folder / "size-0" / "data" / "blobs" / "ab" / "cd"
        images.mkdir(parents=True)
        (images / "image").write_bytes(b"\x89PNG")
    assert not folder.exists()
    assert list((tmp_path / ".sentinel" / "bench").iterdir()) == []
