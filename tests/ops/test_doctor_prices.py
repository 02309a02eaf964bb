"""`sentinel doctor` warns about a paid candidate whose price is set nowhere: spend caps count its images as $0,
so a capped key would spend on it without limit, and the cost reports would show it free."""

from __future__ import annotations

from pathlib import Path

from sentinel.ops.doctor import run_checks
from sentinel.providers.config import load_routing
from sentinel.settings import Settings
from tests.ops.test_doctor import by_name

ROUTES = """\
providers:
  gw: {kind: openai, base_url: 'https://gateway.example/v1', api_key_env: DOCTOR_PRICE_KEY}
  local: {kind: local}
models:
  unpriced: {candidates: [{target: 'gw:image-prod'}, {target: 'local:procedural'}]}
  route-priced: {cost_per_image: 0.04, candidates: [{target: 'gw:image-prod'}]}
  candidate-priced:
    candidates: [{target: 'gw:image-a', cost_per_image: 0.02}, {target: 'gw:image-b', prices: {'1024x1024': 0.03}}]
  free-by-choice: {cost_per_image: 0, candidates: [{target: 'gw:image-free'}]}
default_model: unpriced
"""


def test_a_paid_candidate_without_a_price_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCTOR_PRICE_KEY", "sk-test")
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    assert load_routing(routes).unpriced() == ["unpriced → gw:image-prod"]
    prices = by_name(run_checks(Settings(data_dir=tmp_path, routes=routes)))["prices"]
    assert prices.status == "warn"
    assert "unpriced → gw:image-prod" in prices.detail and "$0" in prices.detail
    assert "cost_per_image" in prices.hint


def test_the_shipped_routes_price_every_paid_candidate(tmp_path: Path) -> None:
    assert load_routing().unpriced() == []
    assert "prices" not in by_name(run_checks(Settings(data_dir=tmp_path)))
