"""The OpenAI-shaped layer over the generation service: an Images API body in; an OpenAI answer, or the HTTP error
the last provider failure maps to, out."""

from __future__ import annotations

import uuid
from typing import Any

from sentinel.errors import SentinelError
from sentinel.gateway.schemas import ImagesGenerationRequest
from sentinel.generation.service import Generation, GenerationRequest, GenerationService
from sentinel.http.base64_bytes import Base64Bytes
from sentinel.keys.caller import Caller
from sentinel.providers.base import Outcome
from sentinel.providers.router import ImageSpec, Router
from sentinel.services import Services

__all__ = ["FAILURE_STATUS", "GatewayService", "Generation", "GenerationFailed"]


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


class GatewayService:
    def __init__(self, generation: GenerationService) -> None:
        self.generation = generation

    @property
    def services(self) -> Services:
        return self.generation.services

    @property
    def router(self) -> Router:
        return self.generation.router

    async def close(self) -> None:
        await self.generation.close()

    def prepare(self, body: ImagesGenerationRequest) -> GenerationRequest:
        """Everything checked before any provider is called: model, size, quality."""
        resolved, width, height = self.generation.resolve(body.model, body.task, body.size, body.quality)
        spec = ImageSpec(
            prompt=body.prompt,
            width=width,
            height=height,
            quality=body.quality,
            seed=body.seed,
            negative_prompt=body.negative_prompt,
            user=body.user,
        )
        return GenerationRequest(model=resolved, spec=spec, n=body.n, request_id=f"gen_{uuid.uuid4().hex}")

    async def route(self, body: ImagesGenerationRequest) -> Generation:
        """Every requested image through the router, checked, neither stored nor charged (the CLI's offline run)."""
        return await self.generation.route(self.prepare(body))

    async def generate(self, body: ImagesGenerationRequest, caller: Caller | None = None) -> Generation:
        """Every requested image, within the caller's spend cap, stored with the call log; raises GenerationFailed
        when none was delivered (its calls are logged all the same: they cost money)."""
        generation = await self.generation.generate(self.prepare(body), caller)
        if not any(generation.image_ids):
            raise self.failure(generation)
        return generation

    @staticmethod
    def failure(generation: Generation) -> GenerationFailed:
        resolved, results = generation.model, generation.results
        last = generation.last_failure
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
