"""Generating images through the router and storing every delivered image once."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from sentinel.api.responses import Base64Bytes
from sentinel.errors import SentinelError
from sentinel.gateway.schemas import ImagesGenerationRequest
from sentinel.keys.service import Caller
from sentinel.providers.base import Outcome, ProviderResult
from sentinel.providers.calls import call_rows
from sentinel.providers.router import ImageSpec, ResolvedModel, Router, RouteResult
from sentinel.services import Services
from sentinel.spend.service import SpendService


class GenerationFailed(SentinelError):
    """No image could be delivered; the status and code follow the last provider failure."""

    error_type = "provider_error"


#: How a last failure becomes an HTTP answer: (status, OpenAI error type, code).
FAILURE_STATUS: dict[Outcome, tuple[int, str, str]] = {
    Outcome.RATE_LIMITED: (429, "rate_limit_error", "rate_limited"),
    Outcome.UNAVAILABLE: (503, "server_error", "providers_unavailable"),
    Outcome.TIMEOUT: (504, "server_error", "provider_timeout"),
    Outcome.CONTENT_FILTERED: (400, "invalid_request_error", "content_policy_violation"),
    Outcome.INVALID_REQUEST: (400, "invalid_request_error", "invalid_request"),
    Outcome.AUTH: (502, "server_error", "provider_auth_failed"),
}


@dataclass
class Generation:
    request_id: str
    model: ResolvedModel
    created: int
    results: list[RouteResult]
    image_ids: list[str | None] = field(default_factory=list)

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return [a.to_dict() | {"image_index": i} for i, r in enumerate(self.results) for a in r.attempts]


class GatewayService:
    def __init__(self, services: Services, router: Router, client: httpx.AsyncClient | None = None) -> None:
        self.services = services
        self.router = router
        #: The HTTP client the provider adapters share; closed with the gateway.
        self.client = client
        self.spend = SpendService(services)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        close = getattr(self.router.cooldowns, "close", None)
        if close is not None:
            await close()

    def prepare(self, body: ImagesGenerationRequest) -> tuple[ResolvedModel, ImageSpec]:
        """Everything checked before any provider is called: model, size, quality."""
        preferred = self.services.rubrics.get(body.task).preferred_model if body.task else None
        resolved = self.router.resolve(body.model, body.task, preferred)
        size = body.size if body.size not in (None, "auto") else resolved.route.sizes[0]
        width, height = self.router.check_size(resolved, size)
        self.router.check_quality(resolved, body.quality)
        spec = ImageSpec(
            prompt=body.prompt,
            width=width,
            height=height,
            quality=body.quality,
            seed=body.seed,
            negative_prompt=body.negative_prompt,
            user=body.user,
        )
        return resolved, spec

    async def route(self, body: ImagesGenerationRequest, caller: Caller | None = None) -> Generation:
        """Every requested image through the router (checked, not yet stored), within the caller's spend cap."""
        resolved, spec = self.prepare(body)
        request_id = f"gen_{uuid.uuid4().hex}"
        most = body.n * self.router.most_expensive(resolved, spec)
        # No cap, no ledger: a thread hop saved on every uncapped call.
        capped = self.spend.capped(caller)
        reservation = await run_in_threadpool(self.spend.reserve, caller, most, request_id) if capped else None
        results: list[RouteResult] = []
        try:
            # Each image walks the route on its own, all at once: one slow provider does not hold up the others.
            specs = [spec if spec.seed is None else replace(spec, seed=spec.seed + i) for i in range(body.n)]
            results = list(await asyncio.gather(*(self.router.generate(resolved, s) for s in specs)))
        finally:
            # Only delivered images carry a cost: failures and undelivered images are refunded.
            actual = sum(a.cost for result in results for a in result.attempts)
            if reservation is not None:
                await run_in_threadpool(self.spend.settle, reservation, actual)
        return Generation(request_id, resolved, int(time.time()), results)

    async def generate(self, body: ImagesGenerationRequest, caller: Caller | None = None) -> Generation:
        """Route, then store every delivered image with the call log in one transaction; raises GenerationFailed
        when none was delivered (its calls are logged all the same: they cost money)."""
        generation = await self.route(body, caller)
        await run_in_threadpool(self._store, generation, caller)
        if not any(generation.image_ids):
            raise self.failure(generation)
        return generation

    def _store(self, generation: Generation, caller: Caller | None = None) -> None:
        """One thread hop and one commit per request: the images, then the calls that name them. The call log is
        written before the answer goes out, so a crash right after answering loses no record of a paid call."""
        with Session(self.services.engine) as session:
            for result in generation.results:
                image = result.image
                if image is not None:
                    self.services.images.store(session, image.info, image.data, caller.id if caller else None)
                generation.image_ids.append(image.info.sha256 if image is not None else None)
            for index, result in enumerate(generation.results):
                image_id = generation.image_ids[index]
                session.add_all(call_rows(generation.request_id, generation.model.requested, result.attempts, image_id))
            session.commit()

    def failure(self, generation: Generation) -> GenerationFailed:
        resolved, results = generation.model, generation.results
        last: ProviderResult | None = next((r.last_failure for r in results if r.last_failure), None)
        outcome = last.outcome if last else Outcome.UNAVAILABLE
        status, kind, code = FAILURE_STATUS[outcome]
        tried = "; ".join(
            f"{a.provider}:{a.model} {a.outcome}" + (f" ({a.message})" if a.message else "")
            for a in results[0].attempts
        )
        headers = {"x-sentinel-request-id": generation.request_id}
        if last and last.retry_after:
            headers["Retry-After"] = str(max(1, round(last.retry_after)))
        error = GenerationFailed(
            f"no image could be generated with model '{resolved.requested}': {tried or 'no candidate'}", headers=headers
        )
        error.status_code, error.error_type, error.code = status, kind, code
        return error

    def response_body(self, generation: Generation, response_format: str, base_url: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for index, result in enumerate(generation.results):
            image = result.image
            if image is None:
                message = result.last_failure.message if result.last_failure else "no candidate could serve it"
                outcome = result.last_failure.outcome.value if result.last_failure else "unavailable"
                failed.append({"index": index, "outcome": outcome, "message": message})
                continue
            item: dict[str, Any]
            if response_format == "b64_json":
                item = {"b64_json": Base64Bytes(image.data)}
            else:
                item = {"url": self.services.images.url(image.info.sha256, base_url)}
            if image.revised_prompt:
                item["revised_prompt"] = image.revised_prompt
            data.append(item)
        return {
            "created": generation.created,
            "data": data,
            "sentinel": {
                "id": generation.request_id,
                "model": generation.model.model,
                "requested_model": generation.model.requested,
                "failed": failed,
                "attempts": generation.attempts,
                "images": [
                    {
                        "id": r.image.info.sha256,
                        "mime": r.image.info.mime,
                        "provider": r.image.provider,
                        "model": r.image.model,
                    }
                    for r in generation.results
                    if r.image is not None
                ],
            },
        }
