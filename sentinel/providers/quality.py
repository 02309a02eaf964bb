"""Quality-aware routing: a route with ``order: quality`` tries its candidates, for a request that names its task,
best first by the share of green verdicts among the images each recently produced for that task.

Where the numbers come from: job attempts, each with the provider and model that made its image and its verdict (a
reviewer's decision replaces an amber verdict on the attempt: approved counts green, rejected red; an amber still
waiting for review counts as judged and not green). Per task and candidate, the last ``SENTINEL_QUALITY_WINDOW``
judged images of jobs created in the last ``SENTINEL_QUALITY_WINDOW_DAYS``, whichever route asked for them (a
``sentinel compare`` run or a single-candidate model teaches the others too). Attempts that produced no image are
the circuit breaker's business, not this.

How they order: a candidate with fewer than ``SENTINEL_QUALITY_MIN_SAMPLE`` judged images keeps its configured
position; the candidates with enough are sorted, best green share first, into the positions they hold (equal shares
keep their configured order). ``SENTINEL_QUALITY_EXPLORE`` of a task's requests try another candidate first — the
others in turn — so a candidate that improved is seen again, and one with thin data gathers a sample. Requests
without a task keep the configured order. Fallback, weights, cooldowns and parking apply to the order as before.

Each process keeps the shares in memory and reads them again at most every ``SENTINEL_QUALITY_REFRESH_SECONDS``:
the first request that finds them older waits for one read (requests arriving meanwhile wait for the same read), so
the database sees one query per process per period, never one per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from sentinel.models import VERDICT_ORDER, Job, JobAttempt, Verdict
from sentinel.providers.config import ModelRoute, RoutingConfig
from sentinel.settings import Settings

logger = logging.getLogger(__name__)

#: A read of the verdicts taking longer leaves the request on the shares read before: a slow database delays a
#: routing decision by this much at most.
READ_WAIT_SECONDS = 5.0
#: The verdicts a judged image can have.
VERDICTS = tuple(v.value for v in VERDICT_ORDER)

T = TypeVar("T")


@dataclass(frozen=True)
class Share:
    """One candidate's recent judged images for one task, and how many of them were green."""

    green: int = 0
    judged: int = 0

    @property
    def value(self) -> float | None:
        return self.green / self.judged if self.judged else None


NO_DATA = Share()
#: (task, provider:model) → its share.
Shares = Mapping[tuple[str, str], Share]
#: Reads every share from the recorded verdicts (blocking: it runs in a thread).
Reader = Callable[[], dict[tuple[str, str], Share]]


@dataclass(frozen=True)
class QualityPolicy:
    """The settings of quality-aware routing (``SENTINEL_QUALITY_*``)."""

    window: int = 200
    window_days: float = 7.0
    min_sample: int = 20
    explore: float = 0.1
    refresh_seconds: float = 5.0

    @classmethod
    def of(cls, settings: Settings) -> QualityPolicy:
        return cls(
            window=settings.quality_window,
            window_days=settings.quality_window_days,
            min_sample=settings.quality_min_sample,
            explore=settings.quality_explore,
            refresh_seconds=settings.quality_refresh_seconds,
        )


# -- the order, on plain numbers ------------------------------------------------------------------------------------


def quality_order(shares: Sequence[Share], min_sample: int) -> list[int]:
    """The positions of a route's candidates (one share each, in configured order) in the order to try them.

    The candidates with at least ``min_sample`` judged images, best green share first, fill the positions such
    candidates hold; every other candidate keeps its own position. Equal shares keep their configured order."""
    measured = [index for index, share in enumerate(shares) if share.judged >= min_sample]
    best_first = sorted(measured, key=lambda index: -(shares[index].value or 0.0))  # stable: ties keep their order
    order = list(range(len(shares)))
    for slot, index in zip(measured, best_first, strict=True):
        order[slot] = index
    return order


def explored(order: list[T], nth: int) -> list[T]:
    """``order`` with another candidate first for exploration number ``nth`` (0, 1, …): those behind the first, in
    turn, so each is tried; the others keep their order behind it."""
    if len(order) < 2:
        return list(order)
    pick = 1 + nth % (len(order) - 1)
    return [order[pick], *order[:pick], *order[pick + 1 :]]


class Exploration:
    """Which requests explore: exactly ``share`` of each (model, task)'s requests in this process, evenly spread (the
    10th, 20th, … at 0.1). Counted, not drawn at random: the share holds over any run of requests, and a test can
    count on it."""

    def __init__(self, share: float) -> None:
        self.share = share
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def due(self, key: tuple[str, str]) -> int | None:
        """This request's exploration number (0 for the key's first), or None when it takes the ranked order."""
        if self.share <= 0:
            return None
        with self._lock:
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        # Rounded first: 0.1 × 30 is 3.0000000000000004 in floating point, and must count as 3.
        before, after = (math.floor(round(n * self.share, 9)) for n in (count - 1, count))
        return after - 1 if after > before else None


# -- the shares a process routes by ---------------------------------------------------------------------------------


class QualityBoard:
    """This process's copy of the recent green shares, read again at most every ``refresh_seconds``."""

    def __init__(self, read: Reader, policy: QualityPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.read = read
        self.policy = policy
        self.exploration = Exploration(policy.explore)
        self._clock = clock
        self._shares: dict[tuple[str, str], Share] = {}
        #: When the read behind ``_shares`` started (the clock's time); None before the first.
        self._read_at: float | None = None
        #: The read under way, with when it started.
        self._reading: tuple[float, asyncio.Task[None]] | None = None

    async def shares(self) -> Shares:
        """The shares, read again first when the last read started more than ``refresh_seconds`` ago."""
        now = self._clock()
        fresh_since = now - self.policy.refresh_seconds
        if self._read_at is not None and self._read_at > fresh_since:
            return self._shares
        loop = asyncio.get_running_loop()
        reading = self._reading
        if reading is None or reading[0] <= fresh_since or reading[1].get_loop() is not loop:
            reading = self._reading = (now, loop.create_task(self._read(now)))
        try:
            # Shielded: a request that gives up (or is cancelled) does not cancel the read the others wait for.
            await asyncio.wait_for(asyncio.shield(reading[1]), READ_WAIT_SECONDS)
        except TimeoutError:
            logger.warning(
                "reading the verdicts for quality routing takes over %s s; routing on the last read", READ_WAIT_SECONDS
            )
        return self._shares

    async def _read(self, started: float) -> None:
        try:
            shares: dict[tuple[str, str], Share] | None = await asyncio.to_thread(self.read)
        except Exception:
            # The database is away: route on the last shares (or the configured order) until the next period.
            logger.warning("could not read the verdicts for quality routing; routing on the last read", exc_info=True)
            shares = None
        if self._read_at is None or started > self._read_at:
            self._read_at = started
            if shares is not None:
                self._shares = shares

    def arrange(self, model: str, task: str, candidates: list[T], targets: list[str], shares: Shares) -> list[T]:
        """``candidates`` (in configured order, ``targets`` their provider:model) in the order a request of ``task``
        to ``model`` tries them: ranked by green share, or another first when it is this request's turn to explore."""
        ranks = quality_order([shares.get((task, target), NO_DATA) for target in targets], self.policy.min_sample)
        nth = self.exploration.due((model, task))
        if nth is not None:
            ranks = explored(ranks, nth)
        return [candidates[index] for index in ranks]


# -- what it does, for the catalog and the dashboard ----------------------------------------------------------------


def route_view(route: ModelRoute, shares: Shares, policy: QualityPolicy) -> dict[str, Any]:
    """What an ``order: quality`` route does, per task with recorded verdicts: the order its requests take (before
    exploration), each candidate's green share and sample, and why; every other task takes the configured order."""
    explore = f"; explore {policy.explore:.0%}" if policy.explore > 0 else ""
    targets = [candidate.target for candidate in route.candidates]
    tasks = sorted({task for task, target in shares if target in targets})
    rows = []
    for task in tasks:
        task_shares = [shares.get((task, target), NO_DATA) for target in targets]
        thin = [share.judged < policy.min_sample for share in task_shares]
        if all(thin):
            reason = "thin data: configured order"
        else:
            reason = "by green share" + (", thin data keeps its configured position" if any(thin) else "")
        candidates = []
        for position, index in enumerate(quality_order(task_shares, policy.min_sample), start=1):
            share = task_shares[index]
            candidates.append(
                {
                    "target": targets[index],
                    "position": position,
                    "green_share": share.value,
                    "green": share.green,
                    "judged": share.judged,
                    "reason": (
                        f"thin data: configured position ({share.judged} of {policy.min_sample} judged)"
                        if thin[index]
                        else f"green share {share.value:.0%} of the last {share.judged} judged"
                    ),
                }
            )
        rows.append(
            {
                "task": task,
                "order": [c["target"] for c in candidates],
                "reason": reason + explore,
                "candidates": candidates,
            }
        )
    return {
        "min_sample": policy.min_sample,
        "window": policy.window,
        "window_days": policy.window_days,
        "explore": policy.explore,
        "tasks": rows,
        "other_tasks": "thin data: configured order" + explore,
        "without_task": "configured order",
    }


# -- reading the recorded verdicts ----------------------------------------------------------------------------------


def quality_targets(config: RoutingConfig) -> set[str]:
    """The candidates of the routes that ask for ``order: quality``: the only ones whose verdicts are read."""
    return {c.target for route in config.models.values() if route.order == "quality" for c in route.candidates}


def verdict_reader(engine: Callable[[], Engine], targets: set[str], policy: QualityPolicy) -> Reader:
    """Reads the shares of ``targets`` with ``policy``'s windows from the database ``engine()`` opens."""

    def read() -> dict[tuple[str, str], Share]:
        since = datetime.now(UTC) - timedelta(days=policy.window_days)
        return recent_shares(engine(), targets, since, policy.window)

    return read


def recent_shares(engine: Engine, targets: set[str], since: datetime, window: int) -> dict[tuple[str, str], Share]:
    """Per (task, provider:model) among ``targets``: of its last ``window`` judged images in jobs created since
    ``since``, how many are green. One query: the database numbers each candidate's attempts newest first."""
    if not targets:
        return {}
    models = sorted({target.split(":", 1)[1] for target in targets})
    newest_first = func.row_number().over(
        partition_by=(col(Job.task), col(JobAttempt.provider), col(JobAttempt.provider_model)),
        order_by=(col(JobAttempt.finished_at).desc().nulls_last(), col(JobAttempt.id).desc()),
    )
    judged = (
        select(
            col(Job.task),
            col(JobAttempt.provider),
            col(JobAttempt.provider_model),
            col(JobAttempt.verdict),
            newest_first.label("recency"),
        )
        .join(Job, col(Job.id) == col(JobAttempt.job_id))
        # jobs.created_at is indexed: the window's jobs are found without reading older attempts.
        .where(
            col(Job.created_at) >= since,
            col(JobAttempt.verdict).in_(VERDICTS),
            col(JobAttempt.provider_model).in_(models),
        )
        .subquery()
    )
    greens = func.sum(case((judged.c.verdict == Verdict.GREEN.value, 1), else_=0))
    query = (
        select(judged.c.task, judged.c.provider, judged.c.provider_model, func.count(), greens)
        .where(judged.c.recency <= window)
        .group_by(judged.c.task, judged.c.provider, judged.c.provider_model)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    shares: dict[tuple[str, str], Share] = {}
    for task, provider, model, judged_count, green in rows:
        target = f"{provider}:{model}"
        if target in targets:
            shares[(task, target)] = Share(green=int(green or 0), judged=int(judged_count))
    return shares
