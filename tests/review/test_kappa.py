"""Cohen's kappa on known tables."""

from __future__ import annotations

import pytest

from sentinel.review.stats import agreement, cohen_kappa


def table(both_pass: int, judge_only: int, human_only: int, both_fail: int) -> list[tuple[bool, bool]]:
    return (
        [(True, True)] * both_pass
        + [(True, False)] * judge_only
        + [(False, True)] * human_only
        + [(False, False)] * both_fail
    )


def test_textbook_table() -> None:
    # 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: po = 0.7, pe = 0.5, kappa = 0.4.
    assert cohen_kappa(table(20, 5, 10, 15)) == pytest.approx(0.4)


def test_perfect_and_chance_and_opposite() -> None:
    assert cohen_kappa(table(10, 0, 0, 10)) == pytest.approx(1.0)
    assert cohen_kappa(table(5, 5, 5, 5)) == pytest.approx(0.0)
    assert cohen_kappa(table(0, 10, 10, 0)) == pytest.approx(-1.0)


def test_undefined_cases() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa(table(12, 0, 0, 0)) is None


def test_kappa_waits_for_enough_decisions() -> None:
    few = agreement(table(3, 1, 0, 2))
    assert few["decisions"] == 6 and few["agreement"] == pytest.approx(5 / 6) and few["kappa"] is None
    assert agreement(table(20, 5, 10, 15))["kappa"] == pytest.approx(0.4)
