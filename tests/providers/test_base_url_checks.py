"""A provider's ``base_url`` and a fal model id are checked when the routing file loads, naming the file, line and
field: a URL without http(s), a host, or with credentials in it failed (or crashed) every call and leaked the
password into errors; an Azure OpenAI deployment's ``?api-version=`` is kept on every call, the path before it
(probes A8, A10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.errors import ConfigError
from sentinel.providers.config import load_routing
from tests.providers.scripted_answers import OK_ANSWER, Answers, outcomes, providers, routing, walk

ROUTES = """\
providers:
  gw:
    kind: {kind}
    base_url: "{base_url}"
    api_key_env: FAKE_KEY
models:
  images:
    candidates:
      - target: "gw:{model}"
default_model: images
"""


def load(tmp_path: Path, base_url: str, kind: str = "openai", model: str = "dall-e-3") -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.format(kind=kind, base_url=base_url, model=model))
    load_routing(path)


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("127.0.0.1:19011/v1", "must start with http:// or https://"),
        ("ftp://127.0.0.1:19011/v1", "not 'ftp:'"),
        ("htp://svc:hunter2secret@127.0.0.1:19011/v1", "not 'htp:'"),
        ("http:///v1", "names no host"),
        ("http://svc:hunter2secret@127.0.0.1:9/v1", "api_key_env"),
        ("https://api.example.com/v1#images", "fragment"),
    ],
)
def test_a_base_url_no_call_can_use_is_refused_on_load(tmp_path, base_url, words) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, base_url)
    said = str(refused.value)
    assert f"{tmp_path / 'routes.yaml'}:4: providers.gw.base_url:" in said
    assert words in said
    # A password in it is never repeated.
    assert "hunter2secret" not in said


def test_a_query_is_refused_where_the_adapter_would_not_keep_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"routes.yaml:4: providers.gw.base_url: has a query string"):
        load(tmp_path, "https://api.stability.ai?x=1", kind="stability", model="sd3.5-large")


def test_a_fal_model_id_that_is_not_namespace_and_app_is_refused_on_load(tmp_path) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, "https://queue.fal.run", kind="fal", model="deep")
    assert "routes.yaml:9: models.images.candidates[0].target: fal model id 'deep'" in str(refused.value)
    load(tmp_path, "https://queue.fal.run", kind="fal", model="fal-ai/flux/dev")


def test_an_azure_deployment_keeps_its_api_version_on_every_call(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")
    azure = Answers([OK_ANSWER])
    with providers(azure=azure) as urls:
        deployment = f"{urls['azure']}/openai/deployments/images?api-version=2024-02-01"
        result = walk(routing({"azure": ("openai", deployment, "dall-e-3")}))
    assert outcomes(result) == [("azure", "ok")]
    assert azure.paths == ["/openai/deployments/images/images/generations?api-version=2024-02-01"]
