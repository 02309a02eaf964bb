"""The FastAPI application: routers of each domain, error handling, and the embedded worker."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles

from sentinel import __version__
from sentinel.api.docs import install_docs
from sentinel.api.encoding import RefuseEncodedBodies
from sentinel.api.head import HeadAsGet
from sentinel.api.query import RefuseRepeatedQueryParameters
from sentinel.dashboard import endpoints as dashboard_endpoints
from sentinel.dashboard.service import DashboardService
from sentinel.evaluation import endpoints as evaluation_endpoints
from sentinel.evaluation.listing import EvaluationListing
from sentinel.gateway import endpoints as gateway_endpoints
from sentinel.gateway.wiring import open_gateway
from sentinel.http.errors import install_error_handlers
from sentinel.http.limits import BodySizeLimit
from sentinel.http.middleware import RequestIdMiddleware, RequestMetrics
from sentinel.http.requests import SharedSafetyNet
from sentinel.http.responses import JSONResponse
from sentinel.idempotency.service import IdempotencyService
from sentinel.jobs import endpoints as job_endpoints
from sentinel.jobs.export import JobExport
from sentinel.jobs.service import JobService
from sentinel.jobs.views import JobViews
from sentinel.keys.auth import ApiKeyAuth
from sentinel.keys.ratelimit import RateLimiter
from sentinel.keys.service import KeyService
from sentinel.ops import endpoints as ops_endpoints
from sentinel.pages import endpoints as page_endpoints
from sentinel.pages import review_pages
from sentinel.pages.auth import ReviewerAuth
from sentinel.pages.endpoints import PAGES_DIR
from sentinel.review import endpoints as review_endpoints
from sentinel.review.service import ReviewService
from sentinel.rubrics import endpoints as rubric_endpoints
from sentinel.services import Services
from sentinel.store import endpoints as image_endpoints
from sentinel.store.heap import keep_freed_buffers
from sentinel.webhooks import endpoints as webhook_endpoints
from sentinel.webhooks.deliveries import DeliveryLog
from sentinel.wiring import get_services
from sentinel.worker import start_embedded_worker
from sentinel.workflow import (
    actors,  # noqa: F401  (the steps the embedded worker runs, declared on the broker)
    runtime,
)

logger = logging.getLogger("sentinel")

#: Threads for blocking calls (database, blob store) made from the API's event loop.
IO_THREADS = 40


def create_app() -> FastAPI:
    services: Services = get_services()
    relay = runtime.relay()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Services hop to threads with asyncio.to_thread, whose default pool has cores + 4 threads: too few for the
        # database writes of many concurrent requests, each short but blocking.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="sentinel-io")
        )
        # Image-sized buffers reused from the heap rather than mapped afresh (and page-faulted) on every call.
        keep_freed_buffers()
        services.engine  # noqa: B018  (creates the tables before the first request)
        services.images.blobs.check()
        gateway = await open_gateway(services)
        app.state.gateway = gateway
        app.state.jobs = JobService(services, lambda: gateway.generation)
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
        embedded = start_embedded_worker(services.settings.worker_threads)
        # What requests write into the outbox goes to the broker from here (workers relay their own).
        relay.start()
        announcements = asyncio.create_task(services.finished.listen())
        # What start-up made (modules, the app, its routes and models, the database's metadata) is moved out of the
        # cyclic collector's reach: its full collections walked it all, one in a burst of 200 uploads held the
        # event loop (and every request on it) for 110-300 ms. Frozen objects are still freed when their last
        # reference goes; only cycles among them that die later are not collected, and they live as long as the
        # process.
        gc.collect()
        gc.freeze()
        if embedded is not None:
            recovered = await run_in_threadpool(app.state.evaluations.recover)
            logger.info(
                "embedded broker: %d worker threads; %d unfinished evaluations resumed",
                services.settings.worker_threads,
                recovered,
            )
        try:
            yield
        finally:
            announcements.cancel()
            if embedded is not None:
                # In-flight messages get the grace period; unfinished work is resumed on the next start
                # (evaluations by recover() above, jobs by the sweep).
                await run_in_threadpool(embedded.stop, services.settings.shutdown_grace_seconds * 1000)
            await run_in_threadpool(relay.stop)
            await gateway.close()

    app = FastAPI(
        title="Sentinel",
        version=__version__,
        summary="Routed AI image generation with a panel of judges: green / amber / red verdicts with reasoning.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
        # Served by install_docs on assets installed with the package: FastAPI's own load them from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.evaluations = runtime.evaluations()
    app.state.evaluation_listing = EvaluationListing(app.state.evaluations)
    # One query a period for every reader long-polling an evaluation, instead of one read each.
    app.state.evaluation_safety_net = SharedSafetyNet(app.state.evaluations.finished_among)
    app.state.job_export = JobExport(JobViews(services))
    app.state.deliveries = DeliveryLog(services)
    app.state.idempotency = IdempotencyService(services)
    app.state.review = ReviewService(services, app.state.evaluations)
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
        webhook_endpoints,
        review_endpoints,
        dashboard_endpoints,
        page_endpoints,
        review_pages,
        ops_endpoints,
    ):
        app.include_router(module.router)
    install_docs(app)
    app.mount("/static", StaticFiles(directory=PAGES_DIR / "static"), name="static")

    @app.get("/healthz", tags=["operations"], summary="Process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Innermost: the key check, the limits and the metrics see the HEAD the caller sent.
    app.add_middleware(HeadAsGet)
    app.add_middleware(RefuseEncodedBodies)
    app.add_middleware(RefuseRepeatedQueryParameters)
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
