"""A callback_url whose host does not resolve at submission is accepted: the job or evaluation needs no DNS, and
every delivery checks the address again (and is retried). Only what can never be delivered to is refused now."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from sentinel.errors import DisallowedURL
from sentinel.net.fetch import check_url
from tests.conftest import png_bytes

#: `.invalid` never resolves (RFC 6761), and this sandbox has no resolver at all.
UNRESOLVABLE = "https://hooks.example.invalid/sentinel"


def test_a_job_with_an_unresolvable_callback_host_is_accepted(client: Any) -> None:
    answer = client.post("/v1/jobs", json={"task": "text-to-image", "prompt": "a cat", "callback_url": UNRESOLVABLE})
    assert answer.status_code == 202, answer.text


def test_an_evaluation_with_an_unresolvable_callback_host_is_accepted(client: Any) -> None:
    answer = client.post(
        "/v1/evaluations",
        data={"task": "text-to-image", "callback_url": UNRESOLVABLE},
        files={"image": ("a.png", png_bytes(), "image/png")},
    )
    assert answer.status_code == 202, answer.text


async def _lookup_fails(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


async def _no_answer(host: str, port: int) -> list[str]:
    return []


async def _private(host: str, port: int) -> list[str]:
    return ["10.1.2.3"]


@pytest.mark.parametrize("resolver", [_lookup_fails, _no_answer], ids=["temporary-failure", "no-address"])
def test_a_name_without_addresses_now_passes_the_check(resolver: Any) -> None:
    check_url("https://hooks.example.org/x", field="callback_url", resolver=resolver)


@pytest.mark.parametrize(
    ("url", "resolver", "words"),
    [
        ("https://hooks.example.org/x", _private, "'hooks.example.org' resolves to 10.1.2.3, a private address"),
        ("http://10.0.0.7/x", _lookup_fails, "points to 10.0.0.7, a private address"),
        ("ftp://hooks.example.org/x", _lookup_fails, "uses the scheme 'ftp:'"),
        ("https:///x", _lookup_fails, "has no host"),
    ],
)
def test_what_can_never_be_delivered_to_is_still_refused(url: str, resolver: Any, words: str) -> None:
    with pytest.raises(DisallowedURL, match=words) as refused:
        check_url(url, field="callback_url", resolver=resolver)
    assert refused.value.field == "callback_url"
