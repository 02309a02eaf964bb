"""Quality-aware routing (``order: quality``): the order on plain numbers (minimum sample, ties, exploration), the
shares read back from recorded verdicts (the last N within the time window, a reviewer's decision counting), a
process's copy of them read at most once per period, and the router trying candidates in that order with fallback."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from sentinel.db import build_engine
from sentinel.db.migrate import upgrade_engine
from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.models import Job, JobAttempt
from sentinel.net.transport import provider_client
from sentinel.providers.base import Operation
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.quality import (
    Exploration,
    QualityBoard,
    QualityPolicy,
    Share,
    explored,
    quality_order,
    recent_shares,
    route_view,
)
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router
from sentinel.settings import Settings
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import own_postgres_database

SETTINGS = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])
ALPHA, BETA, GAMMA = "alpha:dall-e-3", "beta:dall-e-3", "gamma:dall-e-3"

# -- the order on plain numbers ---------------------------------------------------------------------------------------


def test_candidates_with_enough_verdicts_are_ordered_by_green_share() -> None:
    assert quality_order([Share(10, 20), Share(19, 20), Share(15, 20)], min_sample=20) == [1, 2, 0]


def test_below_the_minimum_sample_a_candidate_keeps_its_configured_position() -> None:
    # The first has 19 judged of 20 needed: it stays first; the other two swap into the places they hold.
    assert quality_order([Share(0, 19), Share(10, 20), Share(19, 20)], min_sample=20) == [0, 2, 1]
    assert quality_order([Share(10, 20), Share(), Share(19, 20)], min_sample=20) == [2, 1, 0]
    # Nobody has enough: the configured order.
    assert quality_order([Share(0, 5), Share(5, 5), Share()], min_sample=20) == [0, 1, 2]


def test_equal_shares_keep_their_configured_order() -> None:
    assert quality_order([Share(10, 20), Share(20, 40), Share(30, 40)], min_sample=20) == [2, 0, 1]
    assert quality_order([Share(5, 20), Share(5, 20)], min_sample=20) == [0, 1]


def test_exploration_is_an_exact_share_spread_evenly() -> None:
    exploration = Exploration(0.1)
    due = [exploration.due(("house", "t")) for _ in range(100)]
    assert [n for n, d in enumerate(due, start=1) if d is not None] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert [d for d in due if d is not None] == list(range(10))
    # Counted per model and task.
    assert exploration.due(("house", "other")) is None
    # 0.3 of 10 requests: exactly 3, whatever floating point makes of 0.3 × 10.
    thirty = Exploration(0.3)
    assert sum(thirty.due(("m", "t")) is not None for _ in range(10)) == 3
    assert all(Exploration(0.0).due(("m", "t")) is None for _ in range(50))


def test_an_exploring_request_tries_the_others_first_in_turn() -> None:
    order = ["best", "second", "third"]
    assert [explored(order, nth) for nth in range(3)] == [
        ["second", "best", "third"],
        ["third", "best", "second"],
        ["second", "best", "third"],
    ]
    assert explored(["only"], 0) == ["only"]


def test_the_view_says_which_order_each_task_takes_and_why() -> None:
    config = routing({"alpha": "http://127.0.0.1:9", "beta": "http://127.0.0.1:9"})
    route = config.models["house"]
    shares = {("shots", ALPHA): Share(10, 20), ("shots", BETA): Share(19, 20), ("signs", ALPHA): Share(3, 4)}
    view = route_view(route, shares, QualityPolicy(min_sample=20, explore=0.1))
    shots, signs = view["tasks"]
    assert (shots["task"], shots["order"], shots["reason"]) == ("shots", [BETA, ALPHA], "by green share; explore 10%")
    assert [c["reason"] for c in shots["candidates"]] == [
        "green share 95% of the last 20 judged",
        "green share 50% of the last 20 judged",
    ]
    assert (signs["order"], signs["reason"]) == ([ALPHA, BETA], "thin data: configured order; explore 10%")
    assert signs["candidates"][0]["reason"] == "thin data: configured position (4 of 20 judged)"
    assert view["other_tasks"] == "thin data: configured order; explore 10%"
    assert route_view(route, {}, QualityPolicy(explore=0))["other_tasks"] == "thin data: configured order"


def test_a_route_order_other_than_configured_or_quality_is_refused() -> None:
    with pytest.raises(ValidationError, match="order"):
        routing({"alpha": "http://127.0.0.1:9", "beta": "http://127.0.0.1:9"}, order="fastest")


# -- the shares, read back from recorded verdicts ---------------------------------------------------------------------

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def own_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own: the rows it writes are seen by no other test."""
    with own_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request, tmp_path) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'sentinel.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("own_postgres")
    )
    engine = build_engine(url)
    upgrade_engine(engine)
    yield engine
    engine.dispose()


def record(engine, task: str, target: str, verdicts: list[str | None], created: datetime) -> None:
    """One job of ``task`` whose attempts, oldest first, were made by ``target`` and judged ``verdicts``."""
    provider, model = target.split(":", 1)
    with Session(engine) as session:
        job = Job(
            id=f"job_{task}_{provider}_{created.timestamp():.0f}",
            task=task,
            prompt="p",
            created_at=created,
            deadline_at=created + timedelta(minutes=5),
        )
        session.add(job)
        session.flush()
        for number, verdict in enumerate(verdicts, start=1):
            session.add(
                JobAttempt(
                    job_id=job.id,
                    number=number,
                    provider=provider,
                    provider_model=model,
                    verdict=verdict,
                    finished_at=created + timedelta(seconds=number),
                )
            )
        session.commit()


def test_shares_count_the_last_judged_images_in_the_window(engine) -> None:
    record(engine, "shots", ALPHA, ["red"] * 5 + ["green"] * 3, NOW - timedelta(hours=1))
    # A reviewer's decision is the attempt's verdict (approved amber: green); amber still waiting: judged, not green;
    # an attempt without an image (no verdict) is no judged image.
    record(engine, "shots", BETA, ["green", "amber", None, "green"], NOW - timedelta(hours=2))
    record(engine, "signs", ALPHA, ["green"], NOW - timedelta(hours=1))
    record(engine, "shots", GAMMA, ["green"] * 9, NOW - timedelta(days=30))  # before the window
    record(engine, "shots", "delta:dall-e-3", ["green"], NOW)  # not a candidate of a quality route
    since = NOW - timedelta(days=7)
    shares = recent_shares(engine, {ALPHA, BETA, GAMMA}, since, window=200)
    assert shares == {
        ("shots", ALPHA): Share(3, 8),
        ("shots", BETA): Share(2, 3),
        ("signs", ALPHA): Share(1, 1),
    }
    # The last 4 judged images of alpha for shots: three green and the red before them.
    assert recent_shares(engine, {ALPHA}, since, window=4)[("shots", ALPHA)] == Share(3, 4)


# -- a process's copy of the shares -----------------------------------------------------------------------------------


def test_the_board_reads_the_verdicts_at_most_once_per_period() -> None:
    reads: list[int] = []
    now = [100.0]

    def read() -> dict[tuple[str, str], Share]:
        reads.append(1)
        return {("shots", ALPHA): Share(len(reads), 20)}

    board = QualityBoard(read, QualityPolicy(refresh_seconds=5), clock=lambda: now[0])

    async def requests(count: int) -> list[Any]:
        return list(await asyncio.gather(*(board.shares() for _ in range(count))))

    first = asyncio.run(requests(50))
    assert len(reads) == 1  # fifty requests at once wait for one read
    assert all(shares[("shots", ALPHA)] == Share(1, 20) for shares in first)
    now[0] += 4.9
    asyncio.run(requests(50))
    assert len(reads) == 1
    now[0] += 0.2
    [shares] = asyncio.run(requests(1))
    assert len(reads) == 2 and shares[("shots", ALPHA)] == Share(2, 20)


def test_a_failed_read_keeps_the_last_shares() -> None:
    answers: list[Any] = [{("shots", ALPHA): Share(20, 20)}, OSError("database away")]
    now = [0.0]

    def read() -> dict[tuple[str, str], Share]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    board = QualityBoard(read, QualityPolicy(refresh_seconds=1), clock=lambda: now[0])
    assert asyncio.run(board.shares()) == {("shots", ALPHA): Share(20, 20)}
    now[0] += 2
    assert asyncio.run(board.shares()) == {("shots", ALPHA): Share(20, 20)}
    assert answers == []


# -- the router -------------------------------------------------------------------------------------------------------


@pytest.fixture
def fakes(monkeypatch) -> Iterator[dict[str, Script]]:
    scripts = {name: Script() for name in ("alpha", "beta")}
    with serve(create_app(scripts["alpha"])) as alpha, serve(create_app(scripts["beta"])) as beta:
        monkeypatch.setenv("FAKE_KEY", "sk-test")
        scripts["alpha"].url, scripts["beta"].url = alpha.url, beta.url  # type: ignore[attr-defined]
        yield scripts


def routing(urls: dict[str, str], **route: Any) -> RoutingConfig:
    provider = {"kind": "openai", "api_key_env": "FAKE_KEY", "timeout_seconds": 5}
    return RoutingConfig.model_validate(
        {
            "providers": {name: provider | {"base_url": f"{url}/v1"} for name, url in urls.items()},
            "models": {
                "house": {"order": "quality", "candidates": [{"target": ALPHA}, {"target": BETA}], **route},
            },
            "default_model": "house",
            "max_passes": 1,
        }
    )


def served_by(
    fakes: dict[str, Script],
    shares: dict[tuple[str, str], Share],
    tasks: list[str | None],
    explore: float = 0.0,
    **route: Any,
) -> list[list[tuple[str, str]]]:
    """Each request's provider calls, (provider, outcome), in order, for a router with these shares."""
    config = routing({name: script.url for name, script in fakes.items()}, **route)  # type: ignore[attr-defined]

    async def go() -> list[list[tuple[str, str]]]:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            board = QualityBoard(lambda: shares, QualityPolicy(min_sample=20, explore=explore))
            router = Router(config, build_providers(config, client), MemoryCooldowns(), SETTINGS, quality=board)
            resolved = router.resolve("house")
            spec = ImageSpec(prompt="a lighthouse")
            results = [await router.generate(resolved, spec, task=task) for task in tasks]
            return [[(a.provider, a.outcome) for a in result.attempts] for result in results]

    return asyncio.run(go())


def test_a_task_goes_to_its_best_candidate_first_and_falls_back_in_order(fakes) -> None:
    shares = {("shots", ALPHA): Share(5, 20), ("shots", BETA): Share(18, 20)}
    fakes["beta"].push("ok", "unavailable")
    assert served_by(fakes, shares, ["shots", "shots"]) == [
        [("beta", "ok")],
        [("beta", "unavailable"), ("alpha", "ok")],  # the best failed: the rest of the order serves
    ]


def test_no_task_another_task_or_thin_data_keep_the_configured_order(fakes) -> None:
    shares = {("shots", ALPHA): Share(5, 20), ("shots", BETA): Share(18, 20), ("signs", BETA): Share(19, 19)}
    assert served_by(fakes, shares, [None, "other", "signs"]) == [[("alpha", "ok")]] * 3


def test_exploring_requests_try_the_other_candidate_first(fakes) -> None:
    shares = {("shots", ALPHA): Share(5, 20), ("shots", BETA): Share(18, 20)}
    firsts = [calls[0][0] for calls in served_by(fakes, shares, ["shots"] * 20, explore=0.1)]
    assert firsts.count("beta") == 18 and [n for n, p in enumerate(firsts, 1) if p == "alpha"] == [10, 20]


def test_a_regeneration_starts_at_the_next_candidate_of_the_quality_order(fakes) -> None:
    shares = {("shots", ALPHA): Share(5, 20), ("shots", BETA): Share(18, 20)}
    config = routing({n: s.url for n, s in fakes.items()}, rotate_on_regenerate=True)  # type: ignore[attr-defined]

    async def go() -> list[str]:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            board = QualityBoard(lambda: shares, QualityPolicy(min_sample=20, explore=0))
            router = Router(config, build_providers(config, client), MemoryCooldowns(), SETTINGS, quality=board)
            resolved = router.resolve("house")
            spec = ImageSpec(prompt="a lighthouse")
            return [(await router.generate(resolved, spec, n, task="shots")).attempts[0].provider for n in (0, 1)]

    assert asyncio.run(go()) == ["beta", "alpha"]


def test_a_parked_best_candidate_is_skipped_and_the_next_serves(fakes) -> None:
    shares = {("shots", ALPHA): Share(5, 20), ("shots", BETA): Share(18, 20)}
    fakes["beta"].missing_models.add("dall-e-3")
    first, second = served_by(fakes, shares, ["shots", "shots"])
    assert first == [("beta", "model_not_found"), ("alpha", "ok")]
    assert second == [("beta", "skipped"), ("alpha", "ok")]  # parked: never called again


def test_weights_still_share_first_choice_while_the_data_is_thin() -> None:
    candidates = [{"target": ALPHA, "weight": 3}, {"target": BETA, "weight": 1}]
    config = routing({"alpha": "http://127.0.0.1:9", "beta": "http://127.0.0.1:9"}, candidates=candidates)
    board = QualityBoard(dict, QualityPolicy(min_sample=20, explore=0))
    router = Router(config, {}, MemoryCooldowns(), SETTINGS, quality=board)
    resolved = router.resolve("house")

    async def firsts() -> list[str]:
        return [
            (await router.candidates_for(resolved, Operation.GENERATE, task="shots"))[0].provider for _ in range(4000)
        ]

    share = asyncio.run(firsts()).count("alpha") / 4000
    assert 0.70 < share < 0.80
