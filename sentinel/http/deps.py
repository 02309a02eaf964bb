"""FastAPI dependencies, as each domain declares its own: ``async def read(service: Evaluations)``.

:func:`sentinel.api.app.create_app` builds one service of each domain and keeps it on ``app.state``; the
providers in each domain's ``deps`` module (``sentinel.evaluation.deps``, ``sentinel.jobs.deps``, …), and
``app_services`` below, are the only code that reads it there. Each takes nothing but the request, so asking for a
service adds no parameter to the OpenAPI document, and a test can replace one with
``app.dependency_overrides[provider]``. They are ``async`` only so that FastAPI calls them on the event loop: a
plain ``def`` dependency costs every request a trip through the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.services import Services


async def app_services(request: Request) -> Services:
    """Settings, rubrics, the image store, the database engine and the finished-work signals."""
    return request.app.state.services


AppServices = Annotated[Services, Depends(app_services)]
