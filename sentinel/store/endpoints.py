"""``GET /v1/images/{id}``: stored images, re-served with the type their bytes really have."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from sentinel.services import Services
from sentinel.store.blobs import IMMUTABLE_CACHE_CONTROL

router = APIRouter(tags=["images"])


@router.get(
    "/v1/images/{image_id}",
    summary="Fetch a stored image",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "image/gif": {}}}},
)
async def get_image(image_id: str, request: Request) -> Response:
    services: Services = request.app.state.services
    etag = f'"{image_id}"'

    def load() -> tuple[str, int, Iterator[bytes] | None]:
        with Session(services.engine) as session:
            row = services.images.get(session, image_id)
            mime, size = row.mime, row.size_bytes
        if etag in request.headers.get("if-none-match", ""):
            return mime, size, None
        # Streamed in pieces from the store: a large image is never held whole to be sent.
        return mime, size, services.images.stream(image_id)

    mime, size, pieces = await run_in_threadpool(load)
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE_CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if pieces is None:
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(pieces, media_type=mime, headers=headers)
