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
from sentinel.pages import endpoints as page_endpoints
from sentinel.pages.auth import ReviewerAuth
from sentinel.pages.endpoints import PAGES_DIR
from sentinel.review import endpoints as review_endpoints
from sentinel.review.service import ReviewService
from sentinel.rubrics import endpoints as rubric_endpoints
from sentinel.services import Services, get_services
from sentinel.store import endpoints as image_endpoints

logger = logging.getLogger("sentinel")


async def sweep_forever(jobs: Any, interval: float) -> None:
    """Resume or expire stuck jobs, forever; every API process may run it, each step is idempotent."""
    while True:
        await asyncio.sleep(interval)
        try:
            counts = await run_in_threadpool(jobs.sweep)
        except Exception:
            logger.exception("job sweep failed; trying again in %s s", interval)
            continue
        if any(counts.values()):
            logger.info("job sweep: %s", counts)


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
        embedded = worker.start_embedded_worker(services.settings.worker_threads)
        sweeper = asyncio.create_task(sweep_forever(app.state.jobs, services.settings.sweep_interval_seconds))
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
            if embedded is not None:
                embedded.stop()
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
    app.state.reviewer_auth = ReviewerAuth(services.settings)
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
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=PAGES_DIR / "static"), name="static")

    @app.get("/healthz", tags=["operations"], summary="Process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Three images at the size limit plus form overhead; anything bigger is refused while streaming.
    app.add_middleware(BodySizeLimit, max_bytes=3 * services.settings.max_image_bytes + 1024 * 1024)
    return app
