"""``sentinel bench vision`` says where each evaluation's time went between its upload and the client seeing its
verdict: the fake model names each call by the image it carried, and the benchmark splits every evaluation into
stages from its own clocks, the server's timestamps and those calls."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime

import orjson
from aiohttp.test_utils import TestClient, TestServer

from sentinel.bench.vision import STAGES, Submitted, breakdown, photo_variants, sent_image_key
from sentinel_fakes.bench_vision import create_app


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _submitted(image: int, sent: float, created: float, finished: float, seen: float) -> Submitted:
    answer = {"status": "done", "created_at": _iso(created), "finished_at": _iso(finished)}
    return Submitted(f"ev_{image}", image, sent, sent + 0.1, answer, seen)


def test_the_fake_model_names_each_call_by_the_image_the_benchmark_sent() -> None:
    images = photo_variants(2, 128)

    async def ask() -> dict:
        async with TestClient(TestServer(create_app(0.0, "bench-vision"))) as client:
            for image in images:
                url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
                body = {
                    "model": "bench-vision",
                    "messages": [
                        {"role": "system", "content": "criteria:\n  - id: subject-intact\n"},
                        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]},
                    ],
                }
                answered = await client.post("/v1/chat/completions", data=orjson.dumps(body))
                assert answered.status == 200
            stats = await client.get("/stats")
            return await stats.json()

    stats = asyncio.run(ask())
    assert [key for _, _, key in stats["calls"]] == [sent_image_key(image) for image in images]
    assert all(arrived <= answered for arrived, answered, _ in stats["calls"])
    assert len(stats["call_ms"]) == stats["requests"] == 2


def test_each_evaluation_is_split_into_stages_and_the_last_ones_are_told_apart() -> None:
    images = [b"first", b"second"]
    keys = [sent_image_key(image) for image in images]
    done = [
        # Accepted 0.2 s after sending; its calls reach the model 0.3 s after it was created, 1 s each (one sent
        # 0.1 s after the other); the verdict 0.05 s after the last answer; the client sees it 0.02 s later.
        _submitted(0, sent=100.0, created=100.2, finished=101.65, seen=101.67),
        # The slow one: its calls reach the model 1.5 s after it was created.
        _submitted(1, sent=100.0, created=100.4, finished=103.0, seen=103.1),
    ]
    calls = [
        (100.5, 101.5, keys[0]),
        (100.6, 101.6, keys[0]),
        (101.9, 102.9, keys[1]),
        (200.0, 201.0, None),  # a call without an image is no evaluation's
    ]
    stages = breakdown(done, images, calls, tail=0.5)
    assert list(stages) == list(STAGES)
    assert stages["accept"] == {"p50": 0.3, "tail_mean": 0.4}
    # The median of two is their mean; the tail (the last half to reach the client) is the slow one alone.
    assert stages["to_first_call"] == {"p50": 0.9, "tail_mean": 1.5}
    assert stages["calls"] == {"p50": 1.05, "tail_mean": 1.0}
    assert stages["to_verdict"] == {"p50": 0.075, "tail_mean": 0.1}
    assert stages["to_client"] == {"p50": 0.06, "tail_mean": 0.1}


def test_an_evaluation_whose_calls_the_model_never_saw_is_left_out() -> None:
    done = [_submitted(0, sent=100.0, created=100.2, finished=101.0, seen=101.1)]
    assert breakdown(done, [b"image"], []) == {}
