"""A provider's words never carry a provider key of this process, whole or in part, however many keys it holds."""

from __future__ import annotations

from sentinel.providers.base import KEY_REDACTED, remember_key, without_keys


def test_a_whole_key_is_one_redaction_even_when_another_key_shares_a_run_of_it() -> None:
    # Two keys of one gateway account share their middle: the shared run must not cut the whole key into pieces
    # ("sk-gw[provider key][provider key]"), which also shows the key's prefix.
    remember_key("sk-gw-0123456789abcdefSECRETtail")
    for other in range(8):  # whatever order the process's keys are met in
        remember_key(f"sk-other{other}-0123456789abcdefXYZ")
    said = without_keys("Incorrect API key provided: sk-gw-0123456789abcdefSECRETtail. Check it.")
    assert said == f"Incorrect API key provided: {KEY_REDACTED}. Check it."


def test_a_quoted_prefix_or_suffix_of_a_key_is_redacted_once() -> None:
    remember_key("sk-proj-AAAAbbbbCCCCddddEEEE")
    said = without_keys("Incorrect API key provided: sk-proj-AAAA************EEEE")
    assert "AAAA" not in said and said.count(KEY_REDACTED) == 1, said
