"""`sentinel bench`: benchmarks that print tables and write JSON; the measuring itself is in `sentinel.bench`."""

from __future__ import annotations

import typer

from sentinel.cli import bench_quality, bench_speed

app = typer.Typer(help="Benchmarks that print tables and write JSON.", no_args_is_help=True)

# Registered here rather than by decorators in the two modules, to keep one list in the order `sentinel bench --help`
# shows them.
app.command("judges")(bench_speed.bench_judges)
app.command("accuracy")(bench_quality.bench_accuracy)
app.command("signs")(bench_quality.bench_signs)
app.command("gateway")(bench_speed.bench_gateway)
app.command("load")(bench_speed.bench_load)
app.command("vision")(bench_speed.bench_vision)
app.command("jobs")(bench_speed.bench_jobs)
app.command("regenerate")(bench_quality.bench_regenerate)
app.command("memory")(bench_speed.bench_memory)
app.command("pipeline")(bench_speed.bench_pipeline)
app.command("cli")(bench_speed.bench_cli)
