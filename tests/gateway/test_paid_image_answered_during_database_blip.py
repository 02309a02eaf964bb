"""A plain gateway generation whose provider answered (the image is paid for) while the database is away at the commit
of the image's rows. It was answered 503 with Retry-After: the OpenAI SDK retried (twice, by default) and bought the
image again, and the image already paid for was never handed out. Now it is answered as a blob store that could not
keep the image is: a ``b64_json`` answer carries the paid image, marked not recorded, and a ``url`` answer (it has
nothing to point at) is a 503 naming the database that tells the SDK not to retry. Against `sentinel serve` on a
PostgreSQL database of the test's own behind a TCP proxy that is cut while the fake provider works on the image."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest
from PIL import Image

from sentinel.providers.router import HASH_ASIDE_BYTES
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, own_postgres_database, start_server, write_fake_routes
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> Iterator[tuple[str, Script]]:
    script = Script()
    with serve(create_app(script)) as server:
        yield server.url, script


def generate_through_a_blip(
    tmp_path: Path, fake: tuple[str, Script], response_format: str, edit: bool = False
) -> object:
    """What the OpenAI SDK, as users run it, makes of a generation whose database is cut once the provider has the
    call (and restored once the SDK has its answer): the raw response, or the error it raised."""
    url, script = fake
    script.slow_seconds = 3.0
    script.push("slow")
    routes = write_fake_routes(tmp_path / "routes.yaml", url)
    with own_postgres_database() as database:
        parts = urlsplit(database)
        with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            env = clean_env(
                SENTINEL_DATA_DIR=str(tmp_path / "data"),
                SENTINEL_ROUTES=str(routes),
                SENTINEL_DATABASE_URL=proxy.url("postgresql", parts.username or "", parts.path),
                FAKE_KEY="sk-fake",
            )
            server, base = start_server(env, tmp_path / "serve.log")
            client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=2)
            try:
                with ThreadPoolExecutor(1) as pool:
                    asked = {"prompt": "a lighthouse at dusk", "model": "house", "response_format": response_format}
                    if edit:
                        source = ("source.png", noise_png(256), "image/png")
                        pending = pool.submit(client.images.with_raw_response.edit, image=source, **asked)
                    else:
                        pending = pool.submit(client.images.with_raw_response.generate, **asked)
                    while not script.requests:
                        assert not pending.done(), pending.result()
                    proxy.cut()  # the provider makes (and bills) the image while the database is away
                    try:
                        failure = pending.exception(timeout=60)
                        outcome = failure if failure is not None else pending.result()
                    finally:
                        proxy.restore()
            finally:
                server.stop()
    return outcome


def noise_png(side: int) -> bytes:
    """A PNG of random pixels: as large as its pixels (nothing to compress)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("large", [False, True], ids=["answered-once-committed", "answered-while-committing"])
def test_a_b64_json_answer_carries_the_paid_image_the_database_could_not_record(
    tmp_path: Path, fake: tuple[str, Script], large: bool
) -> None:
    _, script = fake
    # A large image's answer starts before its commit (its base64 goes out meanwhile): the database fails that commit
    # once the answer's headers are sent, and the answer still ends saying the image was not recorded.
    image = noise_png(512)
    assert len(image) >= HASH_ASIDE_BYTES
    if large:
        script.images.append(image)
    answer = generate_through_a_blip(tmp_path, fake, "b64_json")
    assert not isinstance(answer, Exception), answer
    response = answer.http_response  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    # Asked once: the SDK did not retry into a second (paid) image.
    assert response.request.headers["x-stainless-retry-count"] == "0"
    assert len(script.requests) == 1
    body = json.loads(response.text)
    [item] = body["data"]
    paid = base64.b64decode(item["b64_json"])
    assert paid == image if large else paid.startswith(b"\x89PNG")
    # Marked as not kept, saying why: the database could not record it (in a header too, when the answer waited).
    assert body["sentinel"]["stored"] is False
    assert "database could not record" in body["sentinel"]["not_stored"]
    # A large image's answer went out before the commit failed: only its end can say so.
    assert response.headers.get("x-sentinel-stored") == (None if large else "false")


@pytest.mark.parametrize("edit", [False, True], ids=["generation", "edit"])
def test_a_url_answer_names_the_database_and_is_not_retried(
    tmp_path: Path, fake: tuple[str, Script], edit: bool
) -> None:
    error = generate_through_a_blip(tmp_path, fake, "url", edit)
    _, script = fake
    assert isinstance(error, openai.APIStatusError), error
    answer = error.response
    assert answer.status_code == 503, answer.text
    assert answer.request.headers["x-stainless-retry-count"] == "0"
    assert answer.headers["x-should-retry"] == "false"
    assert len(script.requests) == 1
    problem = answer.json()["error"]
    assert problem["code"] == "database_unavailable"
    assert "database could not record" in problem["message"]
