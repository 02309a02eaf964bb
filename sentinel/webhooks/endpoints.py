"""Webhook delivery endpoints: parse, call the delivery log, answer. Nothing else."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from sentinel.db.keyset import MAX_CURSOR_CHARS
from sentinel.http.requests import declared_query_only
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import BODY_ERRORS, V1_ERRORS, errors
from sentinel.keys.http import caller_of
from sentinel.webhooks.deliveries import DEFAULT_LIMIT, MAX_LIMIT, replay_answer
from sentinel.webhooks.deps import Deliveries
from sentinel.webhooks.schemas import DeliveryList, ReplayOut

router = APIRouter(tags=["webhooks"])


@router.get(
    "/v1/webhooks/deliveries",
    dependencies=[Depends(declared_query_only)],
    summary="Every try at delivering the caller's webhooks, newest first",
    description=(
        "One row per try: a delivery that failed twice and then went through is three rows with the same "
        "`delivery_id` (the `Sentinel-Delivery` header the receiver saw). Follow `next_cursor` for older tries, with "
        "the same `resource_id` and `delivered` (a cursor of another list, or with other filters, is a 400)."
    ),
    response_model=DeliveryList,
    responses=V1_ERRORS | errors(400, 422),
)
async def list_deliveries(
    request: Request,
    log: Deliveries,
    resource_id: str | None = Query(None, max_length=40, description="a job's or an evaluation's id"),
    delivered: bool | None = Query(None, description="true: tries the receiver took; false: tries that failed"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(
        None, max_length=MAX_CURSOR_CHARS, description="the previous page's next_cursor, with the same filters"
    ),
) -> JSONResponse:
    page = await run_in_threadpool(log.page, resource_id, delivered, limit, cursor, caller_of(request))
    return JSONResponse({"object": "list", "data": page.data, "next_cursor": page.next_cursor})


@router.post(
    "/v1/webhooks/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send a webhook delivery again, with the same delivery id",
    description=(
        "The delivery goes out again through the outbox, retried with backoff like the first time, with the same "
        "`Sentinel-Delivery` header and the job's or evaluation's current state; each try is a new row in the "
        "listing."
    ),
    response_model=ReplayOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 422),
)
async def replay_delivery(delivery_id: str, request: Request, log: Deliveries) -> JSONResponse:
    row = await run_in_threadpool(log.replay, delivery_id, caller_of(request))
    return JSONResponse(replay_answer(row), status_code=202)
