"""OpenAI's output fields on Stability: ``output_format`` maps onto its own form field; the rest it cannot honour."""

from __future__ import annotations

import httpx
import pytest

from sentinel.providers.base import Outcome, OutputOptions
from sentinel.providers.stability import StabilityProvider
from sentinel_fakes.stability import create_app
from tests.providers.harness import AdapterRunner, FakeApp

generate = AdapterRunner(
    lambda base, client, timeout: StabilityProvider(base, "sk-test", client, timeout=timeout), "stable-image-core"
)


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


def test_output_format_is_sent_as_stabilitys_own_field(fake) -> None:
    base, script = fake
    assert generate(base, output=OutputOptions(output_format="webp")).outcome is Outcome.OK
    assert script.requests[-1]["body"]["output_format"] == "webp"


def test_fields_stability_has_no_counterpart_for_are_named() -> None:
    adapter = StabilityProvider("http://127.0.0.1:9", "sk-test", httpx.AsyncClient())
    assert adapter.cannot_honour("stable-image-core", OutputOptions(output_format="jpeg")) is None
    assert adapter.cannot_honour("stable-image-core", OutputOptions(style="vivid")) == "style"
    assert adapter.cannot_honour("stable-image-core", OutputOptions(background="transparent")) == "background"
    assert adapter.cannot_honour("stable-image-core", OutputOptions(moderation="low")) == "moderation"
