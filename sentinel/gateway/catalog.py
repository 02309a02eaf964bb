"""The model catalog (GET /v1/models): each allowed model and alias with its parameters, and per candidate what it is
sent, costs and takes (sizes, quality tiers, prices, the OpenAI fields it passes on, whether it edits), so a caller
can see why a request is refused before sending it."""

from __future__ import annotations

from typing import Any

from sentinel.gateway.service import default_response_format
from sentinel.providers.base import MAX_EDIT_IMAGES, Operation
from sentinel.providers.config import Candidate, ModelRoute
from sentinel.providers.registry import Unconfigured
from sentinel.providers.router import Router
from sentinel.store.images import ALLOWED_FORMATS


def candidate_entry(router: Router, route: ModelRoute, candidate: Candidate, parked: dict[str, str]) -> dict[str, Any]:
    """What one candidate of a route is sent and costs: the sizes it takes (each as what it is asked for), the quality
    tiers it maps (to its own parameters), its price per size and tier, its weight, and whether it can be called."""
    sizes: dict[str, Any] = {}
    for size in route.sizes:
        mapped = size if candidate.sizes is None else candidate.sizes.get(size)
        if mapped is not None:
            sizes[size] = mapped
    qualities = {tier: params for tier, params in (candidate.quality or {}).items() if tier in route.qualities}
    tiers: list[str | None] = list(route.qualities) or [None]
    provider = router.providers.get(candidate.provider)
    # The OpenAI fields it passes on (a request asking one it does not take skips it, or is 400 naming the field
    # when no candidate takes it), the values it takes where not any, and how many images one edit may carry.
    fields = router.fields_of(candidate)
    edits = router.can(candidate, Operation.EDIT)
    several = fields.get("image")
    return {
        "target": candidate.target,
        "provider": candidate.provider,
        "model": candidate.model,
        "kind": router.config.providers[candidate.provider].kind,
        # The OpenAI family an OpenAI-compatible gateway's model behaves as, when the routing file declares it.
        "family": candidate.family,
        "configured": provider is not None and not isinstance(provider, Unconfigured),
        # Why it cannot be called here (its key's variable is not set): a client can tell before sending anything.
        "unconfigured_reason": provider.reason if isinstance(provider, Unconfigured) else None,
        "sizes": sizes,
        "qualities": qualities,
        "params": candidate.params,
        "prices": [
            {"size": size, "quality": tier, "usd_per_image": route.price(candidate, size, tier)}
            for size in sizes
            for tier in tiers
        ],
        "weight": candidate.weight,
        "parked": parked.get(candidate.target),
        "generates": router.can(candidate, Operation.GENERATE),
        "edits": edits,
        "variations": router.can(candidate, Operation.VARIATION),
        "fields": sorted(name for name in fields if name != "image"),
        "field_values": {
            name: sorted(str(v) for v in values)
            for name, values in sorted(fields.items())
            if values is not None and name != "image"
        },
        "max_images": (max(int(v) for v in several) if several else MAX_EDIT_IMAGES if "image" in fields else 1)
        if edits
        else 0,
    }


def model_entry(
    router: Router, name: str, parked: dict[str, str] | None = None, quality: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One model's catalog entry; ``parked``: candidates whose provider said the model does not exist (with why);
    ``quality``: per ``order: quality`` model, the order each task takes and why (``Router.quality_views``)."""
    # A pinned candidate (provider:model) is described as the one-candidate route it resolves to.
    route = router.config.models.get(name) or router.resolve(name).route
    parked = parked or {}
    parameters: dict[str, Any] = {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 32000},
        "n": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
        "size": {"type": "string", "enum": route.sizes, "default": route.sizes[0]},
        # Only the tiers some candidate maps: the route refuses the others (see ModelRoute.qualities).
        "quality": {"type": "string", "enum": route.qualities},
        "response_format": {
            "type": "string",
            "enum": ["url", "b64_json"],
            "default": default_response_format(name),
        },
        "seed": {"type": "integer", "minimum": 0},
        "negative_prompt": {"type": "string"},
    }
    if not route.qualities:
        del parameters["quality"]
    ordering: dict[str, Any] = {"order": route.order}
    if route.order == "quality":
        ordering["quality"] = (quality or {}).get(name)
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "sentinel",
        "description": route.description,
        "available": router.usable(route),
        "candidates": [c.target for c in route.candidates],
        "candidate_details": [candidate_entry(router, route, c, parked) for c in route.candidates],
        "parked_candidates": [
            {"target": c.target, "reason": parked[c.target]} for c in route.candidates if c.target in parked
        ],
        "aliases": sorted(a for a, target in router.config.aliases.items() if target == name),
        "parameters": parameters,
        "output": {"response_formats": ["url", "b64_json"], "content_types": sorted(ALLOWED_FORMATS.values())},
        **ordering,
    }


def catalog(
    router: Router, parked: dict[str, str] | None = None, quality: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    entries = [model_entry(router, name, parked, quality) for name in router.config.models]
    for alias, target in router.config.aliases.items():
        entries.append(model_entry(router, target, parked, quality) | {"id": alias, "alias_of": target, "aliases": []})
    for name, reason in router.config.parked.items():
        entries.append(
            {"id": name, "object": "model", "created": 0, "owned_by": "sentinel", "parked": reason, "available": False}
        )
    return entries
