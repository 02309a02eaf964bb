"""Which key may call which /v1 route: every route that makes (and bills) images needs a generating key."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from sentinel.api.app import create_app
from sentinel.keys.auth import SIGNED_OR_KEY, required_scope
from tests.conftest import start_server
from tests.keys.test_keys import create_key, embedded_env, fake  # noqa: F401  (fake is a fixture)

#: The only /v1 routes any valid key may call: the task catalogue, which holds no tenant's data.
OPEN_TO_ANY_KEY = {"/v1/rubrics", "/v1/rubrics/{task}"}


def test_every_v1_route_names_the_scopes_it_needs() -> None:
    undecided = [
        f"{method.upper()} {path}"
        for path, operations in create_app().openapi()["paths"].items()
        if path.startswith("/v1/") and path not in OPEN_TO_ANY_KEY
        for method in operations
        if required_scope(method.upper(), path) == "any"
    ]
    assert not undecided, f"routes any key may call: {undecided}"
    assert required_scope("GET", "/v1/images/img_1") == SIGNED_OR_KEY
    assert required_scope("POST", "/v1/images/edits") == ("generate",)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_keys_that_cannot_generate_make_no_edit_or_variation(tmp_path, fake) -> None:  # noqa: F811
    url, script = fake
    env = embedded_env(tmp_path, url)
    server, base = start_server(env, tmp_path / "api.log")
    try:
        reviewer = create_key(env, "--name", "reviewer", "--scopes", "review")
        judge_only = create_key(env, "--name", "judge-only", "--scopes", "evaluate")
        maker = create_key(env, "--name", "maker", "--scopes", "generate")
        for token in (reviewer, judge_only):
            headers = {"Authorization": f"Bearer {token}"}
            for path, data in (("edits", {"prompt": "make it blue"}), ("variations", {})):
                refused = httpx.post(
                    f"{base}/v1/images/{path}",
                    headers=headers,
                    data=data,
                    files={"image": ("cup.png", _png(), "image/png")},
                    timeout=30,
                )
                assert refused.status_code == 403, (path, refused.text)
                assert "this call needs 'generate'" in refused.json()["error"]["message"]
        assert script.requests == []  # nothing was paid for

        deliveries = f"{base}/v1/webhooks/deliveries"
        assert httpx.get(deliveries, headers={"Authorization": f"Bearer {maker}"}).status_code == 200
        assert httpx.get(deliveries, headers={"Authorization": f"Bearer {judge_only}"}).status_code == 200
        refused = httpx.get(deliveries, headers={"Authorization": f"Bearer {reviewer}"})
        assert refused.status_code == 403
        assert "needs 'generate' or 'evaluate'" in refused.json()["error"]["message"]
    finally:
        server.stop()
