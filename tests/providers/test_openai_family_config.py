"""A candidate's ``family:`` in the routing file is checked on load: an unknown family, a family on a provider that is
not OpenAI-compatible, or one model given two families is refused with the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.errors import ConfigError
from sentinel.providers.config import OPENAI_FAMILIES, load_routing

HEAD = """\
providers:
  company: {kind: openai, base_url: "https://gateway.example/v1", api_key_env: COMPANY_KEY}
  stability: {kind: stability, base_url: "https://api.stability.ai", api_key_env: STABILITY_API_KEY}
default_model: house
models:
  house:
    candidates:
"""


def refusal(tmp_path: Path, candidates: str, more: str = "") -> str:
    path = tmp_path / "routes.yaml"
    path.write_text(HEAD + candidates + more)
    with pytest.raises(ConfigError) as refused:
        load_routing(path)
    return refused.value.message


def test_an_unknown_family_is_refused_with_its_line_and_the_families_there_are(tmp_path: Path) -> None:
    message = refusal(tmp_path, "      - target: company:company-image-v2\n        family: gpt-image-9\n")
    assert message.startswith(f"{tmp_path / 'routes.yaml'}:9: models.house.candidates[0].family: "), message
    assert "gpt-image-9" in message
    assert all(family in message for family in OPENAI_FAMILIES), message


def test_a_family_on_a_provider_that_is_not_openai_compatible_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "      - target: stability:stable-image-core\n        family: gpt-image-1\n")
    assert message.startswith(f"{tmp_path / 'routes.yaml'}:9: models.house.candidates[0].family: "), message
    assert "stability" in message and "openai" in message


def test_one_model_given_two_families_is_refused(tmp_path: Path) -> None:
    message = refusal(
        tmp_path,
        "      - target: company:company-image-v2\n        family: gpt-image-1.5\n",
        "  other:\n    candidates:\n      - target: company:company-image-v2\n        family: dall-e-2\n",
    )
    assert message.startswith(f"{tmp_path / 'routes.yaml'}:13: models.other.candidates[0].family: "), message
    assert "gpt-image-1.5" in message and "dall-e-2" in message


def test_a_declared_family_loads_and_an_unset_one_is_the_name_rule(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        HEAD + "      - target: company:company-image-v2\n        family: gpt-image-1.5\n"
        "      - target: company:gpt-image-2.6-flare\n"
    )
    aliased, named = load_routing(path).models["house"].candidates
    assert (aliased.family, aliased.behaves_as) == ("gpt-image-1.5", "gpt-image-1.5")
    assert (named.family, named.behaves_as) == (None, "gpt-image-2.6-flare")


def test_a_routing_file_without_families_keeps_the_fingerprint_its_parked_candidates_are_filed_under(
    tmp_path: Path,
) -> None:
    # Parked candidates (a model the provider said is gone) are filed under the routing's fingerprint: a field that
    # every dump gained, unset, would have changed every file's fingerprint on upgrade and tried them all again.
    path = tmp_path / "routes.yaml"
    path.write_text(HEAD + "      - target: company:company-image-v2\n")
    routing = load_routing(path)
    assert "family" not in routing.model_dump_json()
    path.write_text(HEAD + "      - target: company:company-image-v2\n        family: gpt-image-1.5\n")
    assert load_routing(path).fingerprint != routing.fingerprint
