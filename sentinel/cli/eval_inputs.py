"""What `sentinel eval` judges: files, folders (searched for images), glob patterns, or the rows of a manifest.

Nothing here reads an image: each input becomes an :class:`Item`, and an input that cannot be one (no such file,
an empty folder, a broken manifest row) becomes an item with its ``error`` set, so the batch goes on and the
reports name it. Only a manifest that cannot be read at all stops the command (:class:`UsageError`).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The files a folder is searched for (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jfif", ".jpe", ".webp", ".gif")
#: Image files a folder may hold that Sentinel does not judge: listed as not judged, so that a gate over a folder
#: of camera or scanner output never passes on images it did not look at. (Other files, such as sidecar JSON, are
#: left out silently.)
OTHER_IMAGE_SUFFIXES = frozenset(
    {".tif", ".tiff", ".bmp", ".heic", ".heif", ".avif", ".jp2", ".jxl", ".svg", ".psd", ".ico", ".dng", ".raw"}
)
#: The columns of a CSV manifest and the keys of a JSONL one.
MANIFEST_FIELDS = ("image", "task", "params", "source", "mask")
#: A manifest is a list of images, not a data set: past this it is a mistake.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class UsageError(Exception):
    """The command line itself is wrong (exit 2): an unreadable manifest, a manifest without an image column."""


@dataclass
class Item:
    """One image to judge, with the task and inputs it is judged with."""

    #: How every report names it: the path as given, found in a folder, or resolved from a manifest row.
    name: str
    image: Path | None
    task: str | None
    params: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    mask: Path | None = None
    #: Why it cannot be judged, known before any image is read.
    error: str | None = None


@dataclass(frozen=True)
class Defaults:
    """What the command line gives every item that does not say otherwise (``--task``, ``--param``, ...)."""

    task: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    mask: Path | None = None


def _images_in(folder: Path) -> list[Path]:
    """The folder's image files, recursively: those Sentinel judges and those it does not (see OTHER_IMAGE_SUFFIXES)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # no .git, no .cache
        found += [Path(root) / f for f in sorted(files) if _image_suffix(Path(f))]
    return found


def _image_suffix(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in OTHER_IMAGE_SUFFIXES


def _item(path: Path, defaults: Defaults, found_in_folder: bool = False) -> Item:
    if not path.is_file():
        error: str | None = os.strerror(2) if not path.exists() else "not a file"
    elif found_in_folder and path.suffix.lower() in OTHER_IMAGE_SUFFIXES:
        kinds = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
        error = f"not judged: {path.suffix.lower()} files are not a format Sentinel takes ({kinds})"
    else:
        error = None
    return Item(str(path), path, defaults.task, dict(defaults.params), defaults.source, defaults.mask, error=error)


#: An argument or manifest value that is a URL: Path() would fold its ``//`` and look for a file of that name.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
NOT_URLS = (
    "sentinel eval judges local files, not URLs: download the image first (curl -O URL), or send it to a server "
    "as image_url (POST /v1/evaluations), which fetches it"
)


def from_arguments(arguments: list[str], defaults: Defaults) -> list[Item]:
    """Items for files, folders (every image inside, recursively) and glob patterns (``shots/**/*.png``), in the
    order given, each file once."""
    items: list[Item] = []
    seen: set[Path] = set()

    def add(path: Path, found_in_folder: bool = False) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            items.append(_item(path, defaults, found_in_folder))

    for argument in arguments:
        path = Path(argument)
        if _URL.match(argument):
            items.append(Item(argument, None, defaults.task, error=NOT_URLS))
        elif path.is_dir():
            images = _images_in(path)
            if not images:
                kinds = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
                items.append(Item(argument, None, defaults.task, error=f"folder holds no images ({kinds})"))
            for image in images:
                add(image, found_in_folder=True)
        elif path.exists() or not glob.has_magic(argument):
            add(path)
        else:
            matches = sorted(Path(m) for m in glob.glob(argument, recursive=True))
            files = [m for m in matches if m.is_file()]
            in_folders = [image for folder in (m for m in matches if m.is_dir()) for image in _images_in(folder)]
            if not files and not in_folders:
                items.append(Item(argument, None, defaults.task, error="no file matches this pattern"))
            for match in files:
                add(match)
            for image in in_folders:
                add(image, found_in_folder=True)
    return items


def _read_manifest(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise UsageError(f"--manifest {path}: larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB")
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--manifest {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise UsageError(f"--manifest {path}: {exc.strerror or exc}") from exc


def _is_jsonl(path: Path, text: str) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    if path.suffix.lower() == ".csv":
        return False
    return text.lstrip().startswith("{")


class _RepeatedKey(ValueError):
    """A JSON object of a manifest row naming one key twice."""


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once: a row with ``text`` twice would be judged against one of them
    silently, as ``--param`` given twice would."""
    built = dict(pairs)
    if len(built) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(f"key '{key}' is given twice in one JSON object; give it once")
            seen.add(key)
    return built


def _rows_of_jsonl(path: Path, text: str) -> list[tuple[int, dict[str, Any] | str]]:
    """(line number, the row's fields or why the line is not a row); blank lines are skipped."""
    rows: list[tuple[int, dict[str, Any] | str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_object_once)
        except json.JSONDecodeError as exc:
            rows.append((number, f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        except _RepeatedKey as exc:
            rows.append((number, str(exc)))
            continue
        rows.append((number, row if isinstance(row, dict) else f"expected a JSON object, got {type(row).__name__}"))
    return rows


def _rows_of_csv(path: Path, text: str) -> list[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = [name.strip() for name in reader.fieldnames or []]
    if "image" not in header:
        raise UsageError(
            f"--manifest {path}: the first line must be a header with an 'image' column "
            f"(columns: {', '.join(MANIFEST_FIELDS)}); it has: {', '.join(header) or 'nothing'}"
        )
    rows: list[tuple[int, dict[str, Any] | str]] = []
    for row in reader:
        fields = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if None in row:  # more cells than the header has columns
            rows.append((reader.line_num, f"{len(row[None]) + len(header)} cells where the header has {len(header)}"))
            continue
        if not any(fields.values()):
            continue
        rows.append((reader.line_num, {k: v for k, v in fields.items() if v != ""}))
    return rows


def _params_of(value: Any) -> dict[str, Any] | str:
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # CSV cells, and JSONL rows that give params as JSON text
        try:
            value = json.loads(value, object_pairs_hook=_object_once)
        except json.JSONDecodeError as exc:
            return f"'params' is not valid JSON: {exc.msg}"
        except _RepeatedKey as exc:
            return f"'params': {exc}"
    if not isinstance(value, dict):
        return f"'params' must be a JSON object, got {type(value).__name__}"
    return value


def from_manifest(path: Path, defaults: Defaults) -> list[Item]:
    """Items for every row of a CSV (with a header) or JSON Lines manifest. Paths in it are relative to the
    manifest's folder; ``--task``, ``--param``, ``--source`` and ``--mask`` fill what a row leaves out."""
    text = _read_manifest(path)
    rows = _rows_of_jsonl(path, text) if _is_jsonl(path, text) else _rows_of_csv(path, text)
    unknown = sorted({key for _, row in rows if isinstance(row, dict) for key in row} - set(MANIFEST_FIELDS))
    if unknown:
        raise UsageError(
            f"--manifest {path}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the fields are: {', '.join(MANIFEST_FIELDS)}"
        )
    folder = path.parent

    def resolve(value: Any) -> Path | None:
        return None if value in (None, "") else folder / str(value)

    items: list[Item] = []
    for number, row in rows:
        where = f"{path}:{number}"
        if isinstance(row, str):
            items.append(Item(where, None, defaults.task, error=row))
            continue
        if isinstance(row.get("image"), str) and _URL.match(row["image"]):
            items.append(Item(row["image"], None, defaults.task, error=NOT_URLS))
            continue
        image = resolve(row.get("image"))
        task = row.get("task") or defaults.task
        name = str(image) if image is not None else where
        params = _params_of(row.get("params"))
        problem = (
            "no 'image'"
            if image is None
            else "no task: give the row a 'task' or the command --task"
            if not task
            else f"'task' must be text, got {type(task).__name__}"
            if not isinstance(task, str)
            else params
            if isinstance(params, str)
            else None
        )
        if problem is not None:
            items.append(Item(name, image, task if isinstance(task, str) else None, error=f"{where}: {problem}"))
            continue
        assert image is not None and isinstance(params, dict)
        item = Item(
            name,
            image,
            task,
            {**defaults.params, **params},
            resolve(row.get("source")) or defaults.source,
            resolve(row.get("mask")) or defaults.mask,
        )
        if not image.is_file():
            item.error = os.strerror(2) if not image.exists() else "not a file"
        items.append(item)
    return items
