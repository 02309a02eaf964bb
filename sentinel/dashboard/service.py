"""The dashboard's numbers, computed from the recorded calls, attempts, evaluations and decisions of a window.

Every figure is read back from rows, never from in-memory counters, so a restart or a second API process cannot
change what the dashboard says.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from sentinel.errors import InvalidInput
from sentinel.models import (
    VERDICT_ORDER,
    Evaluation,
    EvaluationStatus,
    Job,
    JobAttempt,
    ProviderCall,
    ReviewDecision,
    Verdict,
    as_utc,
)
from sentinel.providers.base import Outcome
from sentinel.providers.router import Router
from sentinel.services import Services

#: The windows a dashboard can look back over, by the name used in ``?window=``.
WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "24h"
#: Recorded for a candidate passed over while it cooled down: no request reached the provider.
SKIPPED = "skipped"
#: Failure classes in the order people read them: the provider's load first, then refusals, then our own errors.
FAILURE_ORDER: tuple[str, ...] = tuple(outcome.value for outcome in Outcome if outcome is not Outcome.OK)
VERDICTS: tuple[str, ...] = tuple(v.value for v in VERDICT_ORDER)
PERCENTILES: tuple[int, ...] = (50, 95, 99)


def order_failures(outcomes: set[str]) -> list[str]:
    """Known failure classes in their fixed order, then any other outcome alphabetically."""
    known = [outcome for outcome in FAILURE_ORDER if outcome in outcomes]
    return known + sorted(outcomes - set(FAILURE_ORDER))


def latency_summary(samples: list[float]) -> dict[str, float | int | None]:
    """p50/p95/p99 with numpy's default (linear) method; None without samples."""
    if not samples:
        return {f"p{p}": None for p in PERCENTILES} | {"samples": 0}
    values = np.percentile(np.asarray(samples, dtype=float), PERCENTILES)
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)} | {"samples": len(samples)}


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


async def parked_candidates(router: Router) -> list[dict[str, Any]]:
    """Candidates the router parked since the routing file was loaded (their provider said the model does not
    exist), each with the provider's reason and the routes it is skipped in, until the routing file changes."""
    parked = await router.parked()
    routes_of: dict[str, list[str]] = defaultdict(list)
    for name, route in router.config.models.items():
        for candidate in route.candidates:
            routes_of[candidate.target].append(name)
    rows = []
    for target in sorted(parked):
        provider, _, model = target.partition(":")
        rows.append(
            {
                "target": target,
                "provider": provider,
                "model": model,
                "reason": parked[target],
                "routes": routes_of.get(target, []),
            }
        )
    return rows


async def quality_routing(router: Router) -> list[dict[str, Any]]:
    """Per model with ``order: quality``: per task, the order its jobs try the candidates now, each candidate's green
    share and sample, and why (thin data keeps the configured order; a share of requests explores). The routing
    process's own view: the same shares it routes by."""
    views = await router.quality_views()
    return [{"model": name} | view for name, view in views.items()]


#: Outcomes of the caller's making (a bad request, a prompt the provider refused): not counted against a provider's
#: success rate.
CALLERS_OUTCOMES = (Outcome.INVALID_REQUEST.value, Outcome.CONTENT_FILTERED.value)


class DashboardService:
    def __init__(self, services: Services) -> None:
        self.services = services

    def summary(self, window: str = DEFAULT_WINDOW, now: datetime | None = None) -> dict[str, Any]:
        """Everything the dashboard shows for the window ending ``now``, as a JSON-ready dict."""
        if window not in WINDOWS:
            raise InvalidInput(
                f"window must be one of {', '.join(WINDOWS)}; got '{window}'",
                field="window",
            )
        # Naive values are UTC, as everything Sentinel stores is; SQLite compares the stored UTC text.
        end = as_utc(now).astimezone(UTC) if now is not None else datetime.now(UTC)
        start = end - WINDOWS[window]
        with Session(self.services.engine) as session:
            providers, failure_classes = self._providers(session, start, end)
            summary: dict[str, Any] = {
                "window": {
                    "name": window,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "seconds": WINDOWS[window].total_seconds(),
                },
                "totals": self._totals(providers),
                "providers": providers,
                "failure_classes": failure_classes,
                "verdicts_by_model": self._verdicts_by_model(session, start, end),
                "verdicts_by_task": self._verdicts_by_task(session, start, end),
                "regeneration": self._regeneration(session, start, end),
                "review_queue": self._review_queue(session, start, end),
            }
        return summary

    # -- provider calls ----------------------------------------------------------------------------

    def _providers(self, session: Session, start: datetime, end: datetime) -> tuple[list[dict[str, Any]], list[str]]:
        in_window = (col(ProviderCall.created_at) >= start, col(ProviderCall.created_at) <= end)
        # Counts and cost are summed by the database; only successful latencies come back row by row.
        counted = session.exec(
            select(
                ProviderCall.provider,
                ProviderCall.provider_model,
                ProviderCall.outcome,
                func.count(),
                func.coalesce(func.sum(ProviderCall.cost_estimate), 0.0),
            )
            .where(*in_window)
            .group_by(col(ProviderCall.provider), col(ProviderCall.provider_model), col(ProviderCall.outcome))
        ).all()
        latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        for provider, model, latency in session.exec(
            select(ProviderCall.provider, ProviderCall.provider_model, ProviderCall.latency_ms).where(
                *in_window, ProviderCall.outcome == Outcome.OK.value
            )
        ):
            latencies[(provider, model)].append(float(latency))

        outcomes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        costs: dict[tuple[str, str], float] = defaultdict(float)
        for provider, model, outcome, count, cost in counted:
            outcomes[(provider, model)][outcome] += int(count)
            costs[(provider, model)] += float(cost)
        failure_classes = order_failures(
            {outcome for counts in outcomes.values() for outcome in counts} - {Outcome.OK.value, SKIPPED}
        )

        rows: list[dict[str, Any]] = []
        for (provider, model), counts in outcomes.items():
            requests = sum(n for outcome, n in counts.items() if outcome != SKIPPED)
            callers = sum(counts[outcome] for outcome in CALLERS_OUTCOMES)
            rows.append(
                {
                    "key": f"{provider}:{model}",
                    "provider": provider,
                    "model": model,
                    "requests": requests,
                    "ok": counts[Outcome.OK.value],
                    # Over the calls whose outcome was the provider's to decide: a caller's bad request or refused
                    # prompt is not the provider failing (it shows among the failures all the same).
                    "success_rate": ratio(counts[Outcome.OK.value], requests - callers),
                    "callers_faults": callers,
                    "failures": {outcome: counts[outcome] for outcome in failure_classes},
                    "skipped": counts[SKIPPED],
                    "latency_ms": latency_summary(latencies[(provider, model)]),
                    "cost": costs[(provider, model)],
                }
            )
        rows.sort(key=lambda row: (-row["requests"], row["key"]))
        return rows, failure_classes

    @staticmethod
    def _totals(providers: list[dict[str, Any]]) -> dict[str, Any]:
        requests = sum(row["requests"] for row in providers)
        ok = sum(row["ok"] for row in providers)
        callers = sum(row["callers_faults"] for row in providers)
        return {
            "requests": requests,
            "ok": ok,
            "success_rate": ratio(ok, requests - callers),
            "skipped": sum(row["skipped"] for row in providers),
            "cost": sum((row["cost"] for row in providers), 0.0),
        }

    # -- verdicts ----------------------------------------------------------------------------------

    def _verdicts_by_model(self, session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
        rows = session.exec(
            select(JobAttempt.provider, JobAttempt.provider_model, Evaluation.verdict, func.count())
            .join(Evaluation, col(Evaluation.id) == col(JobAttempt.evaluation_id))
            .where(col(JobAttempt.started_at) >= start, col(JobAttempt.started_at) <= end)
            .where(col(Evaluation.verdict).in_(VERDICTS))
            .group_by(col(JobAttempt.provider), col(JobAttempt.provider_model), col(Evaluation.verdict))
        ).all()
        return self._verdict_mix(
            "key", ((f"{provider}:{model}", verdict, count) for provider, model, verdict, count in rows)
        )

    def _verdicts_by_task(self, session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
        rows = session.exec(
            select(Evaluation.task, Evaluation.verdict, func.count())
            .where(col(Evaluation.finished_at) >= start, col(Evaluation.finished_at) <= end)
            .where(col(Evaluation.verdict).in_(VERDICTS))
            .group_by(col(Evaluation.task), col(Evaluation.verdict))
        ).all()
        return self._verdict_mix("task", rows)

    @staticmethod
    def _verdict_mix(name: str, rows: Any) -> list[dict[str, Any]]:
        mix: dict[str, Counter[str]] = defaultdict(Counter)
        for label, verdict, count in rows:
            mix[label][verdict] += int(count)
        ordered = sorted(mix.items(), key=lambda item: (-item[1].total(), item[0]))
        return [{name: label} | {verdict: counts[verdict] for verdict in VERDICTS} for label, counts in ordered]

    # -- jobs and review ---------------------------------------------------------------------------

    def _regeneration(self, session: Session, start: datetime, end: datetime) -> dict[str, Any]:
        in_window = (col(Job.created_at) >= start, col(Job.created_at) <= end)
        jobs = session.exec(select(func.count()).select_from(Job).where(*in_window)).one()
        per_job = session.exec(
            select(JobAttempt.job_id, func.count(), func.max(JobAttempt.number))
            .join(Job, col(Job.id) == col(JobAttempt.job_id))
            .where(*in_window)
            .group_by(col(JobAttempt.job_id))
        ).all()
        attempts = sum(int(count) for _, count, _ in per_job)
        regenerated = sum(1 for _, _, highest in per_job if highest is not None and highest > 1)
        return {
            "jobs": jobs,
            "regenerated_jobs": regenerated,
            "rate": ratio(regenerated, jobs),
            "attempts": attempts,
            "attempts_per_job": attempts / jobs if jobs else None,
        }

    def _review_queue(self, session: Session, start: datetime, end: datetime) -> dict[str, Any]:
        # The same definition as the review queue itself: done, amber, and nobody has decided yet.
        waiting = session.exec(
            select(Evaluation.created_at, Evaluation.finished_at)
            .join(ReviewDecision, col(ReviewDecision.evaluation_id) == col(Evaluation.id), isouter=True)
            .where(Evaluation.status == EvaluationStatus.DONE, Evaluation.verdict == Verdict.AMBER)
            .where(col(ReviewDecision.id).is_(None))
        ).all()
        # An item has waited since its verdict was written, not since the image was submitted.
        ages = [max(0.0, (end - as_utc(finished or created)).total_seconds()) for created, finished in waiting]
        decided = session.exec(
            select(func.count())
            .select_from(ReviewDecision)
            .where(col(ReviewDecision.created_at) >= start, col(ReviewDecision.created_at) <= end)
        ).one()
        return {
            "waiting": len(ages),
            "oldest_age_seconds": max(ages) if ages else None,
            "median_age_seconds": float(np.median(ages)) if ages else None,
            "decided_in_window": decided,
        }
