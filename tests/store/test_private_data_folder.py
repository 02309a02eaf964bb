"""The data folder Sentinel makes holds every tenant's rows (the SQLite file) and images (the blob store): other
users of the machine may not enter it. A folder that exists already keeps the modes its owner gave it."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from sentinel.store.blobs import FilesystemBlobStore
from tests.conftest import SENTINEL, clean_env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_and_its_blob_store_are_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = subprocess.run(
        [SENTINEL, "keys", "create", "--name", "ci"],
        env=clean_env(SENTINEL_DATA_DIR=str(data)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert (data / "sentinel.db").exists()
    assert mode(data) == 0o700
    blobs_first = tmp_path / "other" / "blobs"
    FilesystemBlobStore(blobs_first).put("ab" * 32, b"pixels", "image/png")
    assert mode(blobs_first) == 0o700 and mode(blobs_first.parent) == 0o700


def test_an_existing_folder_keeps_its_modes(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    FilesystemBlobStore(shared / "blobs").put("cd" * 32, b"pixels", "image/png")
    assert mode(shared) == 0o750 and mode(shared / "blobs") == 0o700
