"""``GET /v1/images/{id}``: stored images, re-served with the type their bytes really have."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from sentinel.services import Services

router = APIRouter(tags=["images"])

#: Content-addressed: the bytes behind an id never change, so clients and CDNs may keep them.
CACHE_CONTROL = "public, max-age=31536000, immutable"


@router.get(
    "/v1/images/{image_id}",
    summary="Fetch a stored image",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "image/gif": {}}}},
)
async def get_image(image_id: str, request: Request) -> Response:
    services: Services = request.app.state.services
    etag = f'"{image_id}"'

    def load() -> tuple[str, bytes | None]:
        with Session(services.engine) as session:
            row = services.images.get(session, image_id)
            mime = row.mime
        if etag in request.headers.get("if-none-match", ""):
            return mime, None
        return mime, services.images.read(image_id)

    mime, data = await run_in_threadpool(load)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if data is None:
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=mime, headers=headers)
