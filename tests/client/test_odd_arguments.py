"""The Python client with odd arguments: each answers as the API would, or raises a ValueError that says what it
wanted, never a StopIteration, an OverflowError or a request to a URL glued out of the base URL and a non-URL."""

from __future__ import annotations

import asyncio

import pytest

from sentinel.client import AsyncSentinel, Sentinel, SentinelAPIError

UNKNOWN_IMAGE = "0" * 64


@pytest.mark.parametrize("limit", [0, -1])
def test_a_list_of_no_rows_is_empty(sentinel_url: str, limit: int) -> None:
    with Sentinel(sentinel_url) as sentinel:
        assert sentinel.list_jobs(limit=limit) == []
        assert list(sentinel.list_evaluations(limit=limit)) == []

    async def main() -> list:
        async with AsyncSentinel(sentinel_url) as sentinel:
            return await sentinel.list_jobs(limit=limit)

    assert asyncio.run(main()) == []


@pytest.mark.parametrize("resource_id", ["", ".", ".."])
def test_an_id_that_is_no_path_segment_is_a_value_error(sentinel_url: str, resource_id: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        with pytest.raises(ValueError, match="id"):
            sentinel.get_job(resource_id)
        with pytest.raises(ValueError, match="id"):
            sentinel.get_evaluation(resource_id)


@pytest.mark.parametrize("image", ["not a url", "file:///etc/passwd", "ftp://example.com/a.png", "v1/images/x"])
def test_download_of_something_that_is_no_image_url_is_a_value_error(sentinel_url: str, image: str) -> None:
    with Sentinel(sentinel_url) as sentinel, pytest.raises(ValueError, match="image"):
        sentinel.download(image)


def test_download_by_image_id_asks_sentinel_for_that_image(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel, pytest.raises(SentinelAPIError) as refused:
        sentinel.download(UNKNOWN_IMAGE)
    assert refused.value.status_code == 404
    assert UNKNOWN_IMAGE in refused.value.message


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_a_base_url_ending_in_v1_as_the_openai_sdk_takes_it_reaches_the_same_server(
    sentinel_url: str, suffix: str
) -> None:
    with Sentinel(sentinel_url + suffix) as sentinel:
        assert sentinel.list_jobs(limit=1) is not None

    async def main() -> list:
        async with AsyncSentinel(sentinel_url + suffix) as sentinel:
            return await sentinel.list_jobs(limit=1)

    assert asyncio.run(main()) is not None
