"""What every command shares: the consoles, the error exit, and reading images and ``key=value`` params."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sentinel.errors import over_the_limit

#: Standard output: results, tables, JSON.
out = Console()

#: Standard error: progress, notes and errors, so that stdout can be piped.
err = Console(stderr=True)


#: The colour of each verdict in tables.
VERDICT_STYLE = {"green": "bold green", "amber": "bold yellow", "red": "bold red"}


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print the error; the exit code is 2 for bad input, 1 when the work itself failed."""
    # The message quotes files, settings and providers: their square brackets are text, not markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


def make_data_folder(data_dir: Path) -> None:
    """The data folder made now (0700), or the command stopped with one line naming it: its first use is otherwise
    deep inside whatever reads a file there first (the reviewer keys), and that is what the error named."""
    from sentinel.keyfiles import private_folder

    try:
        private_folder(data_dir)
    except OSError as exc:
        raise fail(
            f"cannot make the data folder {data_dir} (SENTINEL_DATA_DIR): {exc.strerror or exc}; point "
            "SENTINEL_DATA_DIR at a folder this user can create or write"
        ) from exc


def prepare_output(path: Path | None, option: str) -> None:
    """Make sure a report can be written to ``path`` before the work that fills it (judging, provider calls that
    may be paid) starts: its folder is made, and a path that is a folder or cannot be written is a usage error
    (exit 2) naming the option, instead of a traceback once the work is done and lost. ``-`` is stdout."""
    if path is None or path == Path("-"):
        return
    if path.is_dir():
        raise fail(f"{option} {path}: is a folder; name a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{option} {path}: cannot make its folder ({exc.strerror or exc})") from exc
    # Opened for real: os.access says yes to root for a folder no file can be made in (/proc, a read-only mount).
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise fail(f"{option} {path}: not writable ({exc.strerror or exc})") from exc
    if not existed:
        path.unlink(missing_ok=True)  # made by the check alone: a run stopped before writing leaves none


def check_report_paths(
    reports: dict[str, Path | None], inputs: Iterable[Path | None], image_suffixes: Collection[str] = ()
) -> None:
    """A usage error (exit 2, before any work) when a report would overwrite one of the command's own inputs or an
    image (a name ending in one of ``image_suffixes``), or two reports share a file. The shell makes it easy:
    ``-o shots/*.jpg`` (the report's name forgotten) passes the first photo as the report's file, which was
    replaced by JSON with exit 0."""
    taken: dict[Path, str] = {}
    given = {_same_file_key(path) for path in inputs if path is not None}
    given.discard(None)
    for option, path in reports.items():
        if path is None or path == Path("-"):
            continue
        key = _same_file_key(path) or path.resolve()
        if key in given:
            raise fail(f"{option} {path}: is one of the images or files to judge; name a new file for the report")
        if path.suffix.lower() in image_suffixes:
            raise fail(f"{option} {path}: names an image file, which the report would replace; name a report file")
        if key in taken:
            raise fail(f"{option} {path}: {taken[key]} writes that file too; give each report its own file")
        taken[key] = option


def _same_file_key(path: Path) -> Path | None:
    """What identifies a file whatever the path names it by (links, ``..``): its resolved path, if it exists."""
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None


def parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise fail(f"--param takes key=value, got {pair!r}")
        if key.strip() in params:
            # Last-wins would judge against one of the two values silently; the caller meant one of them.
            raise fail(f"--param {key.strip()} given twice ({params[key.strip()]!r} and {value!r}); give it once")
        params[key.strip()] = value
    return params


def read_image(path: Path, what: str, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise fail(f"{what} {path}: {over_the_limit(size, max_bytes)}")
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"{what} {path}: {exc.strerror or exc}") from exc


def counting(label: str, total: int | None = None) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}" + (f"/{total}" if total else "")),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@contextmanager
def steps(label: str) -> Iterator[Callable[[str], None]]:
    """Progress of a long command on stderr, so it never sits silent until its final table: on a terminal a
    spinner with the elapsed time above which each finished step is printed; otherwise one line per finished step.
    Yields the function a step calls with what it finished ("1024² text-to-image: 143 ms")."""
    started = time.monotonic()

    def elapsed() -> str:
        return f"{time.monotonic() - started:5.0f} s"

    if not err.is_terminal:

        def line(step: str) -> None:
            err.print(f"{label} {elapsed()}  {step}", highlight=False, soft_wrap=True)

        line("started")
        yield line
        line("done")
        return
    with err.status(f"{label} …") as status:

        def update(step: str) -> None:
            err.print(f"[dim]{elapsed()}[/]  {step}", highlight=False, soft_wrap=True)
            status.update(f"{label} … (last: {step})")

        yield update
    err.print(f"[dim]{elapsed()}[/]  {label} done", highlight=False)


def plain_type_labels() -> None:
    """``--help`` shows what to type after an option, not Python's type names: typer labels a flag ``<bool>`` (there
    is nothing to type after it) and a repeatable option ``<list[str]>`` (each use takes one value)."""
    from typer.core import TyperArgument, TyperOption

    for parameter_class in (TyperArgument, TyperOption):
        typer_label = parameter_class.display_type
        if getattr(typer_label, "plain", False):
            continue

        def display_type(self: Any, ctx: Any, typer_label: Any = typer_label) -> str:
            if getattr(self, "is_flag", False):
                return ""
            label = typer_label(self, ctx)
            if label.startswith("<list[") and label.endswith("]>"):
                return f"<{label[6:-2]}>"
            return label

        display_type.plain = True  # type: ignore[attr-defined]
        parameter_class.display_type = display_type  # type: ignore[method-assign]
