"""The keys domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.keys.service import KeyService


async def key_service(request: Request) -> KeyService:
    return request.app.state.keys


Keys = Annotated[KeyService, Depends(key_service)]
