"""The FastAPI application: routers of each domain, error handling, and the embedded worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from sentinel import __version__
from sentinel.api.errors import install_error_handlers
from sentinel.api.limits import BodySizeLimit
from sentinel.api.responses import JSONResponse
from sentinel.dashboard import endpoints as dashboard_endpoints
from sentinel.dashboard.service import DashboardService
from sentinel.evaluation import endpoints as evaluation_endpoints
from sentinel.gateway import endpoints as gateway_endpoints
from sentinel.gateway.wiring import open_gateway
from sentinel.idempotency.service import IdempotencyService
from sentinel.jobs import endpoints as job_endpoints
from sentinel.keys.auth import ApiKeyAuth
from sentinel.keys.ratelimit import RateLimiter
from sentinel.keys.service import KeyService
from sentinel.ops import endpoints as ops_endpoints
from sentinel.ops.logging import RequestIdMiddleware
from sentinel.ops.metrics import RequestMetrics
from sentinel.pages import endpoints as page_endpoints
from sentinel.pages.auth import ReviewerAuth
from sentinel.pages.endpoints import PAGES_DIR
from sentinel.review import endpoints as review_endpoints
from sentinel.review.service import ReviewService
from sentinel.rubrics import endpoints as rubric_endpoints
from sentinel.services import Services, get_services
from sentinel.store import endpoints as image_endpoints

logger = logging.getLogger("sentinel")


async def sweep_forever(jobs: Any, evaluations: Any, interval: float, stalled_after: float) -> None:
    """Resume or expire stuck jobs and re-send lost judge messages, forever; every API process may run it, and
    each step is idempotent."""
    steps = (("job", jobs.sweep, ()), ("evaluation", evaluations.sweep, (stalled_after,)))
    while True:
        await asyncio.sleep(interval)
        for name, sweep, args in steps:
            try:
                counts = await run_in_threadpool(sweep, *args)
            except OperationalError as exc:
                # The database is away: say so once per round, without a traceback every second.
                logger.warning("%s sweep skipped: database unreachable (%s)", name, type(exc.orig).__name__)
                continue
            except Exception:
                logger.exception("%s sweep failed; trying again in %s s", name, interval)
                continue
            if any(counts.values()):
                logger.info("%s sweep: %s", name, counts)


def create_app() -> FastAPI:
    # Imported here: importing the worker module configures the broker from settings.
    from sentinel import worker
    from sentinel.evaluation.tasks import evaluation_service
    from sentinel.jobs.service import JobService
    from sentinel.jobs.tasks import ActorJobDispatcher
    from sentinel.webhooks import tasks as webhook_tasks  # noqa: F401  (subscribes to finished work)

    services: Services = get_services()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.engine  # noqa: B018  (creates the tables before the first request)
        services.images.blobs.check()
        gateway = await open_gateway(services)
        app.state.gateway = gateway
        app.state.jobs = JobService(services, app.state.evaluations, ActorJobDispatcher(), gateway.router)
        app.state.reviewer_auth.keys()  # makes the first reviewer key now, so `serve` can say where it is
        if not app.state.keys.keys_required():
            logger.warning(
                "OPEN SERVER: no API keys exist, so /v1 answers anyone who can reach %s (loopback only). "
                "Create a key with `sentinel keys create` to require keys; any other bind address always does.",
                services.settings.host,
            )
        elif not app.state.keys.any_created():
            logger.warning(
                "API keys are required on %s and none exists yet, so every /v1 call is refused: "
                "create one with `sentinel keys create --name NAME`.",
                services.settings.host,
            )
        embedded = worker.start_embedded_worker(services.settings.worker_threads)
        announcements = asyncio.create_task(services.finished.listen())
        settings = services.settings
        sweeper = asyncio.create_task(
            sweep_forever(
                app.state.jobs,
                app.state.evaluations,
                settings.sweep_interval_seconds,
                settings.evaluation_stalled_seconds,
            )
        )
        if embedded is not None:
            recovered = app.state.evaluations.recover()
            logger.info(
                "embedded broker: %d worker threads; %d unfinished evaluations resumed",
                services.settings.worker_threads,
                recovered,
            )
        try:
            yield
        finally:
            sweeper.cancel()
            announcements.cancel()
            if embedded is not None:
                # In-flight messages get the grace period; unfinished work is resumed on the next start
                # (evaluations by recover() above, jobs by the sweeper).
                await run_in_threadpool(embedded.stop, services.settings.shutdown_grace_seconds * 1000)
            await gateway.close()

    app = FastAPI(
        title="Sentinel",
        version=__version__,
        summary="Routed AI image generation with a panel of judges: green / amber / red verdicts with reasoning.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.evaluations = evaluation_service()
    app.state.idempotency = IdempotencyService(services)
    app.state.review = ReviewService(services, app.state.evaluations, lambda: app.state.jobs)
    app.state.dashboard = DashboardService(services)
    app.state.keys = KeyService(services)
    app.state.reviewer_auth = ReviewerAuth(services, app.state.keys)
    install_error_handlers(app)
    for module in (
        evaluation_endpoints,
        image_endpoints,
        rubric_endpoints,
        gateway_endpoints,
        job_endpoints,
        review_endpoints,
        dashboard_endpoints,
        page_endpoints,
        ops_endpoints,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=PAGES_DIR / "static"), name="static")

    @app.get("/healthz", tags=["operations"], summary="Process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Three images at the size limit plus form overhead; anything bigger is refused while streaming.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=3 * services.settings.max_image_bytes + 1024 * 1024,
        read_timeout=services.settings.body_read_timeout_seconds,
    )
    # Added last, so it runs first: an unknown caller is refused before any body is read.
    app.add_middleware(
        ApiKeyAuth, keys=app.state.keys, limiter=RateLimiter(services.settings), settings=services.settings
    )
    # Outermost, so every answer (a refusal too) is counted, logged and carries its x-request-id.
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestIdMiddleware)
    return app
