"""The ``sentinel`` command. This module holds the app, its settings check and the command tree; each command group
lives in a module of its own (``sentinel/cli/<group>.py``)."""

from __future__ import annotations

import typer

from sentinel.cli import bench, compare, images, judges, keys, ops, rubrics, server, storage
from sentinel.cli.common import fail, plain_type_labels

plain_type_labels()

app = typer.Typer(
    help="Sentinel: routed image generation with a panel of judges (green / amber / red verdicts).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _check_settings() -> None:
    # Every command reads the settings: a bad SENTINEL_* value stops it here with a line per variable, not with
    # pydantic's traceback from wherever the settings were first read.
    # Imported here rather than at the top, on purpose: `sentinel --help` stays fast without pydantic-settings.
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from sentinel.settings import get_settings, settings_problem

    try:
        get_settings()
    except ValidationError as exc:
        raise fail(settings_problem(exc)) from None
    except SettingsError as exc:
        raise fail(str(exc)) from None


# The order here is the order `sentinel --help` lists them in. Modules added without a name contribute top-level
# commands; the others are groups (`sentinel keys create`).
app.add_typer(server.app)  # serve, worker
app.add_typer(images.app)  # generate, eval
app.add_typer(compare.app)  # compare
app.add_typer(ops.app)  # doctor, migrate
app.add_typer(rubrics.app, name="rubrics")
app.add_typer(keys.app, name="keys")
app.add_typer(judges.app, name="judges")
app.add_typer(bench.app, name="bench")
app.add_typer(storage.app, name="storage")
