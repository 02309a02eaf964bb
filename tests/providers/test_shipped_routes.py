"""The default routes name models their providers still serve: a candidate on a shut-down model fails every call
with real keys (and a model-not-found answer used to end the walk), and the names clients still send for those
models reach a current route."""

from __future__ import annotations

import re

from sentinel.providers.config import DEFAULT_ROUTES, load_routing

#: Models their providers' documentation lists as shut down by 2026-12-05, with where it says so.
SHUT_DOWN = {
    # https://developers.openai.com/api/docs/deprecations
    "openai:gpt-image-1": "2026-10-23",
    "openai:gpt-image-1.5": "2026-12-01",
    "openai:gpt-image-1-mini": "2026-12-01",
    "openai:chatgpt-image-latest": "2026-12-01",
    "openai:dall-e-3": "retired",
    # https://firebase.google.com/docs/ai-logic/imagen-models-migration, https://ai.google.dev/gemini-api/docs/imagen
    "google:imagen-4.0-generate-001": "2026-08-17",
    "google:imagen-4.0-ultra-generate-001": "2026-08-17",
    "google:imagen-4.0-fast-generate-001": "2026-08-17",
    "google:imagen-3.0-generate-002": "2025-11-10",
}
CHECKED = re.compile(r"# checked \d{4}-\d{2}-\d{2} ")


def test_no_default_candidate_is_a_shut_down_model() -> None:
    routing = load_routing()
    targets = {candidate.target for route in routing.models.values() for candidate in route.candidates}
    assert targets.isdisjoint(SHUT_DOWN), sorted(targets & set(SHUT_DOWN))


def test_names_clients_still_send_reach_a_current_route() -> None:
    routing = load_routing()
    for old in ("gpt-image-1", "dall-e-3", "imagen-4", "imagen-4.0-generate-001"):
        assert routing.aliases[old] in routing.models, old
    assert "dall-e-2" in routing.parked


def test_every_provider_route_says_when_its_models_were_checked() -> None:
    # A date and a source beside each route, so whoever edits it next knows how old the claim is.
    text = DEFAULT_ROUTES.read_text()
    routing = load_routing()
    for name, route in routing.models.items():
        if all(candidate.target.startswith("local:") for candidate in route.candidates):
            continue
        before = text[: text.index(f"\n  {name}:\n")]
        comment = before.rsplit("\n\n", 1)[-1]
        assert CHECKED.search(comment), f"route {name} has no '# checked <date> against <source>' comment"
