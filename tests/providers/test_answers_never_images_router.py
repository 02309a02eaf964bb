"""What the router makes of a provider's answer that leads to no image: bytes or a download that are no image at all
(a page, JSON) are the provider's fault, said once, where the next candidate may serve; a call that timed out is not
made again on a later pass of the same request (it may still be running, and billed, at the provider)."""

from __future__ import annotations

import pytest

from sentinel.providers.base import Outcome
from tests.providers.never_images import (
    Fake,
    asked_once_as_the_providers_fault,
    fake,
    generate,
    key,
    outcomes,
    routing,
    target,
)

__all__ = ["fake", "key"]  # fixtures, used by name


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        ("openai", "urlpage"),
        ("openai", "urljson"),
        ("openai", "b64page"),
        ("replicate", "outjson"),
        ("replicate", "outpage"),
    ],
)
def test_an_output_that_is_no_image_at_all_is_asked_once_and_is_the_providers_fault(
    fake: Fake, kind: str, mode: str
) -> None:
    said = asked_once_as_the_providers_fault(fake, kind, mode).message
    assert "no usable image" in said and "not an image" in said


def test_the_next_candidate_serves_after_a_page_where_the_image_should_be(fake: Fake) -> None:
    before = fake.calls["urlpage"]
    result = generate(routing(fake, target("openai", "urlpage"), target("openai", "ok")))
    assert result.image is not None and result.image.provider == "openai-ok"
    assert outcomes(result) == [("openai-urlpage", "unrecognised_answer"), ("openai-ok", "ok")]
    assert fake.calls["urlpage"] - before == 1


def test_a_candidate_that_timed_out_is_not_asked_again_on_the_next_pass(fake: Fake) -> None:
    before = fake.calls["stall"]
    result = generate(routing(fake, target("openai", "stall"), max_passes=3, timeout=0.5))
    assert result.image is None
    assert outcomes(result) == [("openai-stall", "timeout")]
    assert fake.calls["stall"] - before == 1
    assert result.last_failure is not None and result.last_failure.outcome is Outcome.TIMEOUT
