"""The fake vision model ``sentinel bench vision`` calls: OpenAI-style chat completions that vote pass on every
criterion asked after a fixed latency, on aiohttp, doing as little as it can per call.

It shares the benchmark's two cores with the deployment it measures, so its own CPU per call is kept small (the
starlette fake, ``python -m sentinel_fakes vision``, validates every request as OpenAI would and took ~3 ms per
call): it checks only what the benchmark's audit relies on (the model, the criteria asked, an image attached).
``GET /stats`` gives the calls received, the most answered at once, and how long each call took as the fake saw it
(from the request's arrival to its answer), so a benchmark tells the model's time from the caller's.

Run: ``python -m sentinel_fakes.bench_vision --port 9000 --latency 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import gc
import time
import zlib
from typing import Any

import orjson
from aiohttp import web

from sentinel_fakes.vision import CRITERION_LINE, TOKENS_PER_IMAGE

#: What a data URL's image must start with: JPEG, PNG, GIF or WebP (RIFF) bytes.
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF")


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.at_once = 0
        self.most_at_once = 0
        #: Milliseconds from each call's arrival to its answer, in the order they were answered.
        self.call_ms: list[float] = []
        #: Each answered call as (arrival, answer) in epoch seconds and the CRC-32 of its first image's base64 text.
        self.calls: list[tuple[float, float, int | None]] = []


def _error(status: int, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def image_key(base64_text: str | bytes) -> int:
    """What identifies an image sent: the CRC-32 of its base64 text (~0.1 ms for a 1024² photo's 240 KB)."""
    return zlib.crc32(base64_text.encode("ascii") if isinstance(base64_text, str) else base64_text)


def _attached_image(part: dict[str, Any]) -> int | None:
    """The key (image_key) of an ``image_url`` part holding a base64 data URL of a picture (its first bytes checked,
    not decoded whole); None when it holds none."""
    url = (part.get("image_url") or {}).get("url", "")
    head, _, data = url.partition(";base64,")
    if not head.startswith("data:image/") or not data:
        return None
    try:
        first = binascii.a2b_base64(data[:16])
    except binascii.Error:
        return None
    return image_key(data) if first.startswith(IMAGE_MAGIC) else None


def create_app(latency: float, model: str) -> web.Application:
    stats = Stats()

    async def completions(request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        arrived_at = time.time()
        stats.requests += 1
        try:
            body = orjson.loads(await request.read())
            messages = body["messages"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error(400, "the request is not a chat completion")
        if body.get("model") != model:
            return _error(404, f"The model `{body.get('model')}` does not exist")
        texts: list[str] = []
        images = 0
        first_image: int | None = None
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
                continue
            for part in content or []:
                if part.get("type") == "text":
                    texts.append(part.get("text", ""))
                elif part.get("type") == "image_url":
                    key = _attached_image(part)
                    if key is None:
                        return _error(400, "an image_url part holds no image")
                    first_image = key if first_image is None else first_image
                    images += 1
        prompt = "\n".join(texts)
        asked = list(dict.fromkeys(CRITERION_LINE.findall(prompt)))
        stats.at_once += 1
        stats.most_at_once = max(stats.most_at_once, stats.at_once)
        try:
            await asyncio.sleep(latency)
        finally:
            stats.at_once -= 1
        votes = {"criteria": [{"id": c, "passed": True, "reasoning": f"The {c} looks right."} for c in asked]}
        content = orjson.dumps(votes).decode()
        answer = {
            "id": f"chatcmpl-bench-{stats.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": len(prompt) // 4 + TOKENS_PER_IMAGE * images,
                "completion_tokens": len(content) // 4,
                "total_tokens": len(prompt) // 4 + TOKENS_PER_IMAGE * images + len(content) // 4,
            },
        }
        response = web.Response(body=orjson.dumps(answer), content_type="application/json")
        stats.call_ms.append((time.perf_counter() - arrived) * 1000)
        stats.calls.append((arrived_at, time.time(), first_image))
        return response

    async def read_stats(request: web.Request) -> web.Response:
        body = {
            "requests": stats.requests,
            "most_at_once": stats.most_at_once,
            "call_ms": stats.call_ms,
            "calls": stats.calls,
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def reset_peak(request: web.Request) -> web.Response:
        stats.most_at_once = stats.at_once
        return web.Response(status=204)

    # Requests are a few hundred KB (the image's base64 text); aiohttp's default limit is 1 MiB.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/stats", read_stats)
    app.router.add_post("/stats/reset-peak", reset_peak)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="The benchmark's fake vision model on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the model takes per answer")
    parser.add_argument("--model", default="bench-vision", help="the model name it accepts")
    args = parser.parse_args()
    app = create_app(args.latency, args.model)
    # What start-up made (aiohttp, orjson, the app: ~60,000 objects) stays out of the collector's full collections,
    # which in a burst took ~9% of the fake's CPU, on the cores the benchmark measures.
    gc.collect()
    gc.freeze()
    # A deep backlog: the benchmark opens hundreds of connections at once.
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        print=None,
        backlog=4096,
        access_log=None,
    )


if __name__ == "__main__":
    main()
