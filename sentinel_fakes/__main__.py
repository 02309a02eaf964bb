"""Run a fake provider as its own process (benchmarks): ``python -m sentinel_fakes openai --port 9000``."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from sentinel_fakes.server import Script


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake image provider on 127.0.0.1.")
    parser.add_argument("provider", choices=["openai"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--image", help="file whose bytes every answer returns (default: a small PNG)")
    args = parser.parse_args()
    image = Path(args.image).read_bytes() if args.image else None
    from sentinel_fakes.openai import create_app

    app = create_app(Script(), image=image)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
