"""A 200 in a shape no contract has is contract drift (the provider's fault, fall back), never a content refusal;
the answers that really mean "filtered" keep meaning it."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.providers.base import Outcome, ProviderResult
from sentinel.providers.fal import parse_result
from sentinel.providers.google import parse_gemini, parse_imagen

IMAGE = {"b64_json": "aGVsbG8="}


@pytest.mark.parametrize(
    ("parse", "answer", "outcome"),
    [
        (parse_imagen, {"results": [IMAGE]}, Outcome.UNRECOGNISED_ANSWER),
        # Imagen's answer when its filters removed every image: nothing at all.
        (parse_imagen, {}, Outcome.CONTENT_FILTERED),
        (parse_gemini, {"output": [IMAGE]}, Outcome.UNRECOGNISED_ANSWER),
        (parse_gemini, {"promptFeedback": {"blockReason": "SAFETY"}}, Outcome.CONTENT_FILTERED),
        (parse_result, {"results": [{"url": "https://fal.media/x.png"}]}, Outcome.UNRECOGNISED_ANSWER),
        (parse_result, {"images": []}, Outcome.CONTENT_FILTERED),
    ],
)
def test_unknown_shapes_are_drift_and_filters_stay_filters(parse: Any, answer: dict[str, Any], outcome) -> None:
    result: ProviderResult = parse(answer)
    assert result.outcome is outcome
    if outcome is Outcome.UNRECOGNISED_ANSWER:
        # The message names the keys it found, so the operator sees what changed.
        assert next(iter(answer)) in result.message
