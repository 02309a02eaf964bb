"""``python -m sentinel.cli``: what benchmarks and tests use to start a server or workers with this interpreter."""

from sentinel.cli import app

app()
