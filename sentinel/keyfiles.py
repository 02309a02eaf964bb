"""Files Sentinel keeps in its data folder: secrets it makes up for itself on first use (mode 0600), and files
written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


def private_folder(path: Path) -> None:
    """``path`` as a folder only this user may enter (0700) when it is made here: the data folder holds every tenant's
    rows and images. Missing parents are made too; a folder that exists is left as its owner set it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def private_file(path: Path) -> None:
    """``path`` made as an empty file only this user may read (0600) when it is missing; one that exists is left as
    its owner set it. SQLite gives its -wal and -shm files the database file's own mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def write_whole(path: Path, data: bytes) -> None:
    """``data`` at ``path``, in a private folder (see :func:`private_folder`), whole or not at all: written aside,
    then renamed, so a reader never sees half of it and a crash leaves no partial file under its name."""
    private_folder(path.parent)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The file's text; created with ``make()`` when missing. Racing processes all end up reading the winner's.

    The text is written to a file of this process's own and linked into place whole: a file made empty first and
    written after let a process starting in between read "" (a webhook secret of nothing, for its lifetime)."""
    if not path.exists():
        private_folder(path.parent)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process's file won: read below
            except OSError:
                # No hard links on this filesystem (some network and FUSE mounts): made in place, as the winner.
                with (
                    contextlib.suppress(FileExistsError),
                    os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle,
                ):
                    handle.write(draft.read_text())
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text()
