"""A provider's `timeout_seconds` is documented with its real default and bound (outside probe F5): an operator
whose header-less provider held every request 120 s before fallback could find no word of it."""

from __future__ import annotations

import re

from annotated_types import Le

from sentinel.providers.config import ProviderConfig
from tests.conftest import REPO


def test_routing_doc_gives_the_providers_timeout_with_its_default_and_bound() -> None:
    field = ProviderConfig.model_fields["timeout_seconds"]
    most = next(m.le for m in field.metadata if isinstance(m, Le))
    page = (REPO / "docs" / "routing.md").read_text()
    section = page[page.index("`timeout_seconds`") :]
    said = re.search(r"default (\d+), at most (\d+)", section)
    assert said is not None, "docs/routing.md does not give timeout_seconds' default and bound"
    assert (float(said[1]), float(said[2])) == (field.default, most)
    assert "timeout_seconds:" in section  # an example to copy
