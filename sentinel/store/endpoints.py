"""``GET /v1/images/{id}``: stored images, re-served with the type their bytes really have."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from sentinel.http.deps import AppServices
from sentinel.http.errors import error_response
from sentinel.http.schemas import V1_ERRORS, errors
from sentinel.keys.deps import Keys
from sentinel.keys.http import caller_of
from sentinel.store.blobs import IMMUTABLE_CACHE_CONTROL
from sentinel.store.images import ALLOWED_FORMATS
from sentinel.store.signing import EXPIRES_PARAM, SIGNATURE_PARAM

#: Once keys exist an image is not for everyone: shared caches must not hand one caller's copy to another.
PRIVATE_CACHE_CONTROL = IMMUTABLE_CACHE_CONTROL.replace("public", "private")

router = APIRouter(tags=["images"])

#: The images API's POST routes that share /v1/images/{id}'s shape (no stored image has such an id).
POST_ONLY_PATHS = frozenset({"generations", "edits", "variations"})


#: What ``GET`` and ``HEAD /v1/images/{id}`` answer besides the errors every /v1 route shares.
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the image's bytes, with the type they really have",
        "content": {mime: {"schema": {"type": "string", "format": "binary"}} for mime in ALLOWED_FORMATS.values()},
    },
    304: {"description": "not modified: the If-None-Match ETag is this image's"},
}


@router.get(
    "/v1/images/{image_id}",
    summary="Fetch a stored image",
    response_class=Response,
    responses=IMAGE_RESPONSES | V1_ERRORS | errors(400, 404, 422),
)
async def get_image(image_id: str, request: Request, services: AppServices, keys: Keys) -> Response:
    return await _image_response(image_id, request, services, keys, with_body=True)


@router.head(
    "/v1/images/{image_id}",
    summary="A stored image's headers (type, length, ETag) without its bytes",
    response_class=Response,
    responses=IMAGE_RESPONSES | V1_ERRORS | errors(400, 404, 422),
)
async def head_image(image_id: str, request: Request, services: AppServices, keys: Keys) -> Response:
    return await _image_response(image_id, request, services, keys, with_body=False)


async def _image_response(
    image_id: str, request: Request, services: AppServices, keys: Keys, *, with_body: bool
) -> Response:
    """GET's answer, or HEAD's: the same checks and headers, and for HEAD the store is never read."""
    if image_id in POST_ONLY_PATHS:
        # /v1/images/generations read with GET is a client using the wrong method, not an image id nobody has.
        return error_response(
            405,
            "method_not_allowed",
            f"/v1/images/{image_id} takes POST; {request.method} reads a stored image by its id",
            headers={"Allow": "POST"},
        )
    etag = f'"{image_id}"'
    caller = caller_of(request)
    expires, signature = request.query_params.get(EXPIRES_PARAM), request.query_params.get(SIGNATURE_PARAM)
    keys_required = False

    def load() -> tuple[str, int, Iterator[bytes] | None, bool]:
        nonlocal keys_required
        keys_required = keys.keys_required()
        with Session(services.engine) as session:
            row = services.images.get_for(session, image_id, caller, keys_required, expires, signature)
            mime, size = row.mime, row.size_bytes
        if _none_match(request.headers.get("if-none-match", ""), etag):
            return mime, size, None, True
        # Streamed in pieces from the store: a large image is never held whole to be sent.
        return mime, size, services.images.stream(image_id) if with_body else None, False

    mime, size, pieces, not_modified = await run_in_threadpool(load)
    cache = PRIVATE_CACHE_CONTROL if keys_required else IMMUTABLE_CACHE_CONTROL
    headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if not_modified:
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(size)
    if pieces is None:
        # HEAD: the length a GET would send (given, so Response does not set its own of 0), and no body.
        return Response(media_type=mime, headers=headers)
    return StreamingResponse(pieces, media_type=mime, headers=headers)


def _none_match(header: str, etag: str) -> bool:
    """Whether If-None-Match names this image (RFC 9110 §13.1.2: ``*`` names any existing one; weak tags compare
    by their value, as this comparison is the weak one)."""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags
