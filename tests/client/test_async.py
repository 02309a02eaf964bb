"""AsyncSentinel: the same calls as coroutines, many evaluations at once, with the same typed results."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from sentinel.client import AsyncSentinel, Decision, Evaluation, Job, SentinelAPIError, SentinelTimeout
from tests.client.fault_proxy import Fault, fault_proxy
from tests.conftest import FIXTURES

SHOTS = FIXTURES / "product-white-background"
TASK = "product-white-background"
#: The README's table of the product shots' verdicts.
EXPECTED = {"good.jpg": "green", "grey-background.jpg": "red", "low-res-800.jpg": "amber"}


def test_evaluations_run_concurrently_with_their_verdicts(sentinel_url: str) -> None:
    async def main() -> list[Evaluation]:
        async with AsyncSentinel(sentinel_url) as sentinel:
            return await asyncio.gather(*(sentinel.evaluate(SHOTS / name, TASK) for name in EXPECTED))

    results = asyncio.run(main())
    assert all(isinstance(result, Evaluation) and result.done for result in results)
    assert {name: result.verdict for name, result in zip(EXPECTED, results, strict=True)} == EXPECTED


def test_a_job_and_a_decision(sentinel_url: str) -> None:
    async def main() -> tuple[Job, Evaluation, Decision, Evaluation]:
        async with AsyncSentinel(sentinel_url) as sentinel:
            created = await sentinel.create_job(TASK, f"a red bottle on a white background {uuid.uuid4().hex[:6]}")
            job = await sentinel.wait_for_job(created.id, timeout=120)
            shot = await sentinel.evaluate(SHOTS / "low-res-800.jpg", TASK)
            queue = await sentinel.review_queue(task=TASK, limit=500)
            assert shot.id in [item.id for item in queue]
            decision = await sentinel.decide(shot.id, "approve", note="fine for thumbnails")
            return job, shot, decision, await sentinel.get_evaluation(shot.id)

    job, shot, decision, after = asyncio.run(main())
    assert (job.state, job.verdict) == ("done", "green") and job.images[0].passing
    assert shot.verdict == "amber"
    assert (decision.final_verdict, decision.note) == ("green", "fine for thumbnails")
    assert after.final_verdict == "green"


def test_a_retry_after_a_timeout_keeps_the_key_and_the_evaluation(sentinel_url: str) -> None:
    async def main() -> Evaluation:
        async with AsyncSentinel(proxy.url, timeout=2, max_retries=5, backoff=0.05) as sentinel:
            return await sentinel.evaluate(SHOTS / "good.jpg", TASK)

    with fault_proxy(sentinel_url) as proxy:
        proxy.push("POST", "/v1/evaluations", Fault(stall=True))
        evaluation = asyncio.run(main())
        first = proxy.withheld_answer().json()
        keys = {post.idempotency_key for post in proxy.requests("POST", "/v1/evaluations")}
    assert evaluation.id == first["id"] and len(keys) == 1


def test_errors_and_timeouts_are_raised_as_in_the_blocking_client(sentinel_url: str) -> None:
    async def main() -> None:
        async with AsyncSentinel(sentinel_url) as sentinel:
            with pytest.raises(SentinelAPIError) as raised:
                await sentinel.evaluate(SHOTS / "good.jpg", "no-such-task")
            assert (raised.value.status_code, raised.value.type) == (400, "unknown_task")
            slow = await sentinel.create_job("text-to-image", "a slow bottle", model="slow-local")
            with pytest.raises(SentinelTimeout) as waited:
                await sentinel.wait_for_job(slow.id, timeout=1.0)
            assert waited.value.last.id == slow.id and not waited.value.last.done

    asyncio.run(main())
