"""Run a fake provider as its own process (benchmarks): ``python -m sentinel_fakes openai --port 9000``."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from sentinel_fakes.server import Script


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake image provider (or vision model) on 127.0.0.1.")
    parser.add_argument("provider", choices=["openai", "vision"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--image", help="file whose bytes every answer returns (default: a small PNG)")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="answer each request with --image (a PNG) made new by a counter in a tEXt chunk, as real images are new",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="vision: seconds the model takes per answer")
    parser.add_argument("--model", default="bench-vision", help="vision: the model name it accepts")
    args = parser.parse_args()
    if args.provider == "vision":
        uvicorn.run(vision_app(args.latency, args.model), host="127.0.0.1", port=args.port, log_level="warning")
        return
    image = Path(args.image).read_bytes() if args.image else None
    from sentinel_fakes.openai import create_app

    app = create_app(Script(), image=image, distinct=args.distinct)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def vision_app(latency: float, model: str) -> Starlette:
    """The OpenAI-style vision model, keyless, answering every criterion after ``latency`` seconds, with ``GET /stats``
    (requests received, the most answered at once) for a benchmark to read; requests are counted, not kept."""
    from sentinel_fakes.chat import create_app as create_chat_app
    from sentinel_fakes.vision import VisionScript

    script = VisionScript(
        api_key=None, models={model}, default="slow" if latency > 0 else "votes", slow_seconds=latency
    )
    script.keep_requests = False

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse({"requests": script.received, "most_at_once": script.most_at_once})

    return Starlette(routes=[Route("/stats", stats), Mount("/", create_chat_app(script))])


if __name__ == "__main__":
    main()
