"""A provider answer that can never hold an image is the provider's fault, said once: the candidate is not asked
again on the route's next pass (each ask is a paid generation), and the next candidate may serve. Shapes real
gateways and models answer with that do hold the image are read: base64 with a data-URI prefix or without its
padding, a ``data:`` URL, a Replicate output object naming its image."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
import yaml

from sentinel.providers.base import Outcome, decode_base64
from sentinel.providers.fal import parse_result
from sentinel.providers.google import parse_gemini, parse_imagen
from tests.conftest import clean_env, png_bytes, start_server
from tests.providers.never_images import (
    IMAGE,
    Fake,
    asked_once_as_the_providers_fault,
    fake,
    generate,
    key,
    outcomes,
    routes,
    routing,
    target,
)

__all__ = ["fake", "key"]  # fixtures, used by name


@pytest.fixture(scope="module")
def gateway(fake: Fake, tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("never-images")
    models = {mode: (target(kind, mode),) for kind, mode in [("openai", "b64bad"), ("replicate", "outseed")]}
    (tmp / "routes.yaml").write_text(yaml.safe_dump(routes(fake, models, max_passes=2)))
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp / "data"),
        SENTINEL_ROUTES=str(tmp / "routes.yaml"),
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        NEVER_IMAGES_KEY="sk-never-images",
    )
    server, base = start_server(env, tmp / "serve.log")
    try:
        yield base
    finally:
        server.stop()


@pytest.mark.parametrize("model", ["b64bad", "outseed"])
def test_the_gateway_answers_502_after_one_paid_call(gateway: str, fake: Fake, model: str) -> None:
    before = fake.calls[model]
    response = httpx.post(
        f"{gateway}/v1/images/generations", json={"model": model, "prompt": "a red lighthouse"}, timeout=60
    )
    # The provider's fault (502 provider_error), not "every provider unavailable" (503) after asking it twice.
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "provider_error"
    assert response.headers["x-sentinel-attempts"] == "1"
    assert fake.calls[model] - before == 1


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        ("openai", "b64prefix"),
        ("openai", "b64nopad"),
        ("openai", "dataurl"),
        ("replicate", "outdict"),
        ("replicate", "outimages"),
    ],
)
def test_answers_that_hold_the_image_in_a_known_variant_deliver_it(fake: Fake, kind: str, mode: str) -> None:
    before = fake.calls[mode]
    result = generate(routing(fake, target(kind, mode)))
    assert result.image is not None, outcomes(result)
    assert result.image.data == IMAGE
    assert outcomes(result) == [(f"{kind}-{mode}", "ok")]
    assert fake.calls[mode] - before == 1


@pytest.mark.parametrize(
    ("kind", "mode", "words"),
    [
        ("openai", "b64bad", "base64 that does not decode"),
        ("openai", "dataurlbad", "data URI"),
        ("replicate", "outseed", "output holds no image URL (keys: seed)"),
    ],
)
def test_an_answer_that_can_never_be_an_image_is_asked_once_and_is_the_providers_fault(
    fake: Fake, kind: str, mode: str, words: str
) -> None:
    assert words in asked_once_as_the_providers_fault(fake, kind, mode).message


def test_the_next_candidate_serves_after_an_answer_that_is_no_image(fake: Fake) -> None:
    before = fake.calls["outseed"]
    result = generate(routing(fake, target("replicate", "outseed"), target("openai", "ok")))
    assert result.image is not None and result.image.provider == "openai-ok"
    assert outcomes(result) == [("replicate-outseed", "unrecognised_answer"), ("openai-ok", "ok")]
    assert fake.calls["outseed"] - before == 1


def test_unpadded_base64_decodes_as_padded_base64_does() -> None:
    # Every remainder: 0, 1 and 2 bytes past a whole group (no padding, "==" and "=" left out).
    for data in (IMAGE, IMAGE + b"\x01", IMAGE + b"\x01\x02", png_bytes(7, 5) + bytes(range(256))):
        padded = base64.b64encode(data).decode()
        assert decode_base64(padded.rstrip("=")) == data
        assert decode_base64(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data
        wrapped = "\n".join(padded.rstrip("=")[i : i + 76] for i in range(0, len(padded), 76))
        assert decode_base64(wrapped) == data
        assert decode_base64(f"data:image/png;base64,{padded}") == data
    # What no padding can make whole stays refused.
    for bad in ("a", "abcde", "ab=c", "data:image/png,iVBORw0K", "data:image/png;base64", "%%%"):
        assert decode_base64(bad) is None, bad


def test_fal_entries_without_a_url_give_their_file_data_or_are_the_providers_fault() -> None:
    encoded = base64.b64encode(IMAGE).decode()
    served = parse_result({"images": [{"file_data": encoded, "content_type": "image/png"}]})
    assert served.outcome is Outcome.OK and served.images[0].data == IMAGE
    nothing = parse_result({"images": [{"content_type": "image/png", "file_name": "x.png"}]})
    assert nothing.outcome is Outcome.UNRECOGNISED_ANSWER
    # Named by its keys, never by its values (which may be megabytes of base64).
    assert "content_type, file_name" in nothing.message
    broken = parse_result({"images": [{"file_data": "not base64!" + "A" * 500}]})
    assert broken.outcome is Outcome.UNRECOGNISED_ANSWER and "AAAA" not in broken.message


def test_google_answers_with_unpadded_base64_deliver_the_image() -> None:
    unpadded = base64.b64encode(IMAGE).decode().rstrip("=")
    imagen = parse_imagen({"predictions": [{"bytesBase64Encoded": unpadded, "mimeType": "image/png"}]})
    assert imagen.outcome is Outcome.OK and imagen.images[0].data == IMAGE
    part = {"inlineData": {"mimeType": "image/png", "data": unpadded}}
    gemini = parse_gemini({"candidates": [{"content": {"parts": [part]}, "finishReason": "STOP"}]})
    assert gemini.outcome is Outcome.OK and gemini.images[0].data == IMAGE
