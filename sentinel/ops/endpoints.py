"""Operations endpoints: ``/readyz`` for load balancers and orchestrators, ``/metrics`` for Prometheus.

``/healthz`` (the process is up) lives in :mod:`sentinel.api.app`; none of these need a key.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from sentinel.evaluation.deps import JudgingAdmissions
from sentinel.http.deps import AppServices
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import errors
from sentinel.ops import metrics
from sentinel.ops.health import readiness

router = APIRouter(tags=["operations"])

#: The checks ``/readyz?scope=instance`` fails on: what another replica may not share. The broker and the judging
#: queue are one for every replica, so failing on them takes every replica out of rotation at the same moment.
INSTANCE_CHECKS = frozenset({"database", "blob_store"})


class ReadinessOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, dict[str, Any]] = Field(
        description="database, broker, blob_store: each ok, and why not; redis (RabbitMQ as the broker, Redis "
        "configured too): the Redis the processes share rate limits, provider cool-downs and long-poll wake-ups "
        "through; outbox: messages waiting for the broker; judging: judge messages waiting for a worker, failing "
        "while new evaluations are refused for them"
    )
    failing: list[str] | None = Field(default=None, description="the checks that failed (503 only)")


@router.get(
    "/readyz",
    summary="Ready to serve: database, broker and blob store reachable, judges not overloaded",
    response_model=ReadinessOut,
    responses={
        503: {"model": ReadinessOut, "description": "a check failed; `failing` names it and `checks` says why"},
        **errors(400, 422),
    },
)
async def readyz(
    services: AppServices,
    admission: JudgingAdmissions,
    scope: Literal["all", "instance"] = Query(
        "all",
        description="`instance`: fail only for what is wrong with this process (its database connection, its blob "
        "store), reporting the shared broker and judging queue without failing on them: a readiness probe of "
        "several replicas, which would otherwise all leave rotation at once when Redis blips or the judges fall "
        "behind, while reads, review pages and plain generations still work",
    ),
) -> JSONResponse:
    # The API's own reading of the judging queue: /readyz fails exactly while its POSTs are refused.
    checks = await readiness(services, admission)
    failing = [name for name, check in checks.items() if not check.ok and (scope == "all" or name in INSTANCE_CHECKS)]
    body: dict[str, object] = {
        "status": "not ready" if failing else "ready",
        "checks": {name: check.to_dict() for name, check in checks.items()},
    }
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200, headers={"cache-control": "no-store"})


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def prometheus_metrics() -> Response:
    # Queue depth asks the broker; keep that off the event loop.
    payload, content_type = await run_in_threadpool(metrics.render)
    return Response(payload, media_type=content_type, headers={"cache-control": "no-store"})
