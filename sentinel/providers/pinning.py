"""One candidate of the routing file pinned by name (``provider:model``): a route of that candidate alone.

A model comparison must know which model drew each image: a public model falls back to its other candidates when
its first fails, so ``sentinel compare`` (and any caller) can name a candidate instead and get exactly it."""

from __future__ import annotations

from sentinel.providers.config import ModelRoute, RoutingConfig


def pinned_route(config: RoutingConfig, target: str) -> ModelRoute | None:
    """``target`` as a route of that one candidate, as the first model listing it has it (its size and quality
    mapping, params and price, the sizes and tiers it maps); None when no model lists it."""
    for route in config.models.values():
        for candidate in route.candidates:
            if candidate.target != target:
                continue
            price = candidate.cost_per_image if candidate.cost_per_image is not None else route.cost_per_image
            sizes = [s for s in route.sizes if candidate.sizes is None or s in candidate.sizes] or route.sizes
            tiers = [q for q in route.qualities if q in (candidate.quality or {})]
            return route.model_copy(
                update={
                    "description": f"{target} alone (pinned: no fallback)",
                    "candidates": [candidate.model_copy(update={"cost_per_image": price, "weight": None})],
                    "sizes": sizes,
                    "qualities": tiers,
                    "rotate_on_regenerate": False,
                }
            )
    return None
