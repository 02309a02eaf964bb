"""A vision judge's configured "key" shorter than a secret (``k``, ``ollama``, ``EMPTY``: placeholders local servers
ignore) is not redacted from every reasoning and error; a real key still is (probe A8/A10, key redaction)."""

from __future__ import annotations

import pytest

from sentinel.evaluation.vision.judge import scrub


@pytest.mark.parametrize("placeholder", ["k", "ollama", "EMPTY", "none"])
def test_a_placeholder_key_leaves_the_words_alone(placeholder) -> None:
    text = f"the handle looks fine; ollama says EMPTY is none of its keys ({placeholder})"
    assert scrub(text, placeholder) == text


def test_a_real_key_is_still_redacted() -> None:
    key = "sk-live-0123456789abcdef"
    assert scrub(f"Incorrect API key provided: {key}", key) == "Incorrect API key provided: [redacted]"
