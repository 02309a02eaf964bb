"""A provider's success answer is a finished generation, billed whether or not its image passes our checks (cut in
half, animated, a blank frame). The call log keeps its status and price, so the dashboard's cost, the spend ledger
and a tenant's cap count that money; and the same candidate is not bought from again in the same request."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import ProviderCall
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, png_image, serve
from tests.support.routed_server import serving_routes

PRICE = 0.04


def cut_png() -> bytes:
    whole = png_image(256, 256, seed=3)
    return whole[: len(whole) // 2]


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((200, 30, 30), (30, 200, 30))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


REFUSED = {"cut": cut_png, "animated": animated_gif}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Script, Script, Path]]:
    broken, healthy = Script(), Script()
    with serve(create_app(broken)) as first, serve(create_app(healthy)) as second:
        routes = {
            "providers": {
                name: {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": "FAKE_KEY"}
                for name, url in (("broken", first.url), ("healthy", second.url))
            },
            "models": {
                "alone": {"candidates": [{"target": "broken:gpt-image-1"}], "cost_per_image": PRICE},
                "pair": {
                    "candidates": [{"target": "broken:gpt-image-1"}, {"target": "healthy:gpt-image-1"}],
                    "cost_per_image": PRICE,
                },
            },
            "default_model": "pair",
            "max_passes": 2,
        }
        # Output addresses on the fakes (127.0.0.1) may be downloaded.
        with serving_routes(tmp_path, routes, SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32") as (base, database):
            yield base, broken, healthy, database


def calls_of(database: Path) -> list[ProviderCall]:
    engine = create_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        calls = list(session.exec(select(ProviderCall).order_by(ProviderCall.id)).all())
    engine.dispose()
    return calls


def generate(base: str, model: str) -> httpx.Response:
    body = {"prompt": "a red bicycle", "model": model, "response_format": "b64_json"}
    return httpx.post(f"{base}/v1/images/generations", json=body, timeout=60)


@pytest.mark.parametrize("refused", REFUSED)
def test_a_refused_image_is_logged_at_its_price_and_not_bought_twice(gateway, refused: str) -> None:
    base, broken, _, database = gateway
    broken.images.extend([REFUSED[refused]()] * 3)
    answer = generate(base, "alone")
    assert answer.status_code >= 500, answer.text
    assert len(broken.requests) == 1  # the second pass does not buy the same answer again
    [call] = calls_of(database)
    assert call.status_code == 200 and call.cost_estimate == pytest.approx(PRICE)


def test_the_next_candidate_serves_and_both_images_are_paid(gateway) -> None:
    base, broken, healthy, database = gateway
    broken.images.append(cut_png())
    answer = generate(base, "pair")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-sentinel-provider"] == "healthy"
    assert [(call.provider, call.status_code, call.cost_estimate) for call in calls_of(database)] == [
        ("broken", 200, pytest.approx(PRICE)),
        ("healthy", 200, pytest.approx(PRICE)),
    ]
    assert len(broken.requests) == 1 and len(healthy.requests) == 1


def test_an_output_address_that_fails_once_is_downloaded_again_not_bought_again(gateway) -> None:
    # The image is made and paid for; a CDN's passing 502 on its address must not buy another from the next candidate.
    base, broken, healthy, database = gateway
    broken.push("flaky_url")
    answer = generate(base, "pair")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-sentinel-provider"] == "broken"
    assert len(broken.requests) == 1 and healthy.requests == []
    assert [(call.provider, call.outcome) for call in calls_of(database)] == [("broken", "ok")]
