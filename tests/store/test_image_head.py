"""HEAD /v1/images/{id} answers what GET does (type, length, ETag, caching) without the bytes, over a real socket:
a client checking an image before downloading it (or a link checker) gets the GET's headers, not a 405."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import clean_env, start_server

#: Headers a HEAD must answer exactly as the GET of the same image does.
SAME_HEADERS = ("content-type", "content-length", "etag", "cache-control", "x-content-type-options")


@pytest.fixture(scope="module")
def image_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("image-head")
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp / "data")), tmp / "serve.log")
    try:
        made = httpx.post(
            f"{base}/v1/images/generations",
            json={"prompt": "a red mug", "size": "256x256", "response_format": "url"},
            timeout=60,
        )
        assert made.status_code == 200, made.text
        yield made.json()["data"][0]["url"]
    finally:
        server.stop()


def test_head_answers_the_gets_headers_without_the_bytes(image_url: str) -> None:
    got = httpx.get(image_url, timeout=10)
    assert got.status_code == 200 and got.content
    head = httpx.head(image_url, timeout=10)
    assert head.status_code == 200, head.text
    assert head.content == b""
    assert {name: head.headers.get(name) for name in SAME_HEADERS} == {
        name: got.headers.get(name) for name in SAME_HEADERS
    }
    assert head.headers["content-length"] == str(len(got.content))


def test_head_honours_if_none_match(image_url: str) -> None:
    etag = httpx.head(image_url, timeout=10).headers["etag"]
    assert httpx.head(image_url, headers={"If-None-Match": etag}, timeout=10).status_code == 304


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("condition", ["*", 'W/"{sha}"', '"other", "{sha}"'])
def test_if_none_match_star_weak_and_listed_tags_answer_304(image_url: str, method: str, condition: str) -> None:
    # RFC 9110 §13.1.2: "*" matches any current representation; a weak tag or one in a list matches by value.
    sha = httpx.head(image_url, timeout=10).headers["etag"].strip('"')
    answer = httpx.request(method, image_url, headers={"If-None-Match": condition.format(sha=sha)}, timeout=10)
    assert answer.status_code == 304 and answer.content == b""
    unrelated = httpx.request(method, image_url, headers={"If-None-Match": '"other"'}, timeout=10)
    assert unrelated.status_code == 200


def test_head_of_an_unknown_image_is_404_and_other_methods_name_both(image_url: str) -> None:
    unknown = image_url.split("/v1/images/")[0] + "/v1/images/" + "0" * 64
    assert httpx.head(unknown, timeout=10).status_code == 404
    refused = httpx.delete(image_url, timeout=10)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"


def test_the_favicon_answers_head_too(image_url: str) -> None:
    favicon = image_url.split("/v1/images/")[0] + "/favicon.ico"
    head, got = httpx.head(favicon, timeout=10), httpx.get(favicon, timeout=10)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(got.content))


@pytest.mark.parametrize("route", ["generations", "edits", "variations"])
def test_reading_a_post_route_is_a_405_naming_post_not_a_missing_image(image_url: str, route: str) -> None:
    base = image_url.split("/v1/images/")[0]
    for method in ("GET", "HEAD"):
        answer = httpx.request(method, f"{base}/v1/images/{route}", timeout=10)
        assert answer.status_code == 405, (method, answer.text)
        assert answer.headers["allow"] == "POST"
    said = httpx.get(f"{base}/v1/images/{route}", timeout=10).json()["error"]
    assert said["code"] == "method_not_allowed" or said["type"] == "method_not_allowed", said
    assert "takes POST" in said["message"]
