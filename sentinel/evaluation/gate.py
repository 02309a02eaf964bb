"""The FastAPI dependency that refuses work creating evaluations while the judges are overloaded (see
:mod:`sentinel.evaluation.admission`): declared on a route, it runs before the endpoint reads the body, so a refused
request costs neither parsing its upload nor a row."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request

from sentinel.evaluation.admission import JudgingAdmission
from sentinel.http.threads import in_thread


async def _read(request: Request) -> JudgingAdmission:
    admission: JudgingAdmission = request.app.state.evaluations.admission
    # Most requests go by the last second's reading; only a stale one asks the broker, in a thread.
    if admission.fresh() is None:
        await in_thread(admission.reading)
    return admission


async def admit_evaluation(request: Request) -> AsyncIterator[None]:
    """503 ``overloaded`` with Retry-After while the judging queue is at its limit; else the request counts towards
    the backlog until the next reading (the requests of a burst all pass the same reading)."""
    with (await _read(request)).admitted("evaluation"):
        yield


async def admit_job(request: Request) -> AsyncIterator[None]:
    """As :func:`admit_evaluation`, for a job: each of its attempts is judged, and a job taken now would pay for
    images that would wait in the queue past their evaluation's deadline."""
    with (await _read(request)).admitted("job"):
        yield
