"""The evaluation and job filters read ``since`` and ``until`` alike: one parser, one set of errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sentinel.errors import InvalidInput
from sentinel.evaluation.listing import EvaluationFilter
from sentinel.jobs.export import JobFilter

PARSERS = [EvaluationFilter.parse, JobFilter.parse]


@pytest.mark.parametrize("parse", PARSERS)
def test_a_window_is_read_as_utc_times(parse) -> None:
    filters = parse(since="2026-12-04", until="2026-12-05T14:00:00+02:00")
    assert filters.since == datetime(2026, 12, 4, tzinfo=UTC)
    assert filters.until == datetime(2026, 12, 5, 12, tzinfo=UTC)
    assert parse(since="", until=None).since is None


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    ("since", "until", "field", "message"),
    [
        (
            "yesterday",
            None,
            "since",
            "'since' must be an ISO 8601 time such as 2026-12-05T14:00:00Z or 2026-12-05, not 'yesterday'",
        ),
        (
            None,
            "2026-13-01",
            "until",
            "'until' must be an ISO 8601 time such as 2026-12-05T14:00:00Z or 2026-12-05, not '2026-13-01'",
        ),
        ("2026-12-05", "2026-12-04", "until", "'until' must be later than 'since'"),
        ("2026-12-05", "2026-12-05", "until", "'until' must be later than 'since'"),
    ],
)
def test_a_bad_window_names_its_field(parse, since: str | None, until: str | None, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(since=since, until=until)
    assert (refused.value.field, refused.value.message) == (field, message)
