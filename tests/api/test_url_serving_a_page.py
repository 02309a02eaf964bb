"""An image_url, source_url or mask_url that serves a web page (a login page, an error document) is refused under
that field, naming the URL and what it served. It was refused under ``image`` / ``source`` / ``mask``, fields the
request did not have, with "the bytes are text, not an image" and no URL: the caller could not tell which address
to fix."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.page_host import fetching_from_loopback, serving_pages


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    with serving_pages() as base:
        yield base


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fetching_from_loopback(tmp_path_factory.mktemp("page-url")) as base:
        yield base


@pytest.mark.parametrize(
    ("urls", "field", "served"),
    [
        ({"image": "/login"}, "image_url", "text/html (a web page"),
        ({"image": "/json"}, "image_url", "application/json"),
        ({"image": "/photo.png", "source": "/login", "mask": "/photo.png"}, "source_url", "text/html (a web page"),
        ({"image": "/photo.png", "source": "/photo.png", "mask": "/login"}, "mask_url", "text/html (a web page"),
    ],
)
def test_a_url_serving_no_image_is_refused_under_its_field_naming_it(
    api: str, host: str, urls: dict[str, str], field: str, served: str
) -> None:
    task = "object-removal" if "source" in urls else "text-to-image"
    body = {"task": task} | {f"{name}_url": host + path for name, path in urls.items()}
    answer = httpx.post(f"{api}/v1/evaluations", json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["param"] == field and error["type"] == "bad_image"
    assert f"{field} {body[field]} served {served}" in error["message"], error["message"]


def test_a_url_serving_an_image_is_still_judged(api: str, host: str) -> None:
    answer = httpx.post(
        f"{api}/v1/evaluations", json={"task": "text-to-image", "image_url": f"{host}/photo.png"}, timeout=30
    )
    assert answer.status_code == 202, answer.text
