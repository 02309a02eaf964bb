"""compose.yaml, the Dockerfile and docs/deploy.md agree with the code: settings, commands, probes, grace periods.

Docker cannot run here, so these files are checked for what can go wrong without running them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.settings import Settings
from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
DEPLOY_MD = (REPO / "docs" / "deploy.md").read_text()
SETTINGS = {f"SENTINEL_{name.upper()}" for name in Settings.model_fields}
#: Variables that are not settings but are read by name (the migration helper's scratch server).
NOT_SETTINGS = {"SENTINEL_MIGRATE_ADMIN_URL"}
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?+])([^}]*))?\}")


def interpolate(value: str) -> str:
    """What compose would substitute with an .env that sets the required variables and nothing else."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.groups()
        if operator == "-":
            return rest  # ${VAR:-default}: unset in this .env
        return "s3cret-" + name.lower().replace("_", "-")[:20].ljust(20, "x")

    return INTERPOLATION.sub(one, value)


def sentinel_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in COMPOSE["services"].items() if name in ("api", "worker", "migrate")}


def test_compose_runs_the_production_shape() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    assert services["api"]["command"][:2] == ["sentinel", "serve"]
    assert services["api"]["command"][2:4] == ["--host", "0.0.0.0"]
    assert services["worker"]["command"][:2] == ["sentinel", "worker"]
    assert services["migrate"]["command"] == ["sentinel", "migrate"]
    for name in ("api", "worker"):
        needs = services[name]["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
        assert needs["migrate"]["condition"] == "service_completed_successfully"


def test_every_sentinel_variable_is_a_setting() -> None:
    used: set[str] = set()
    for service in COMPOSE["services"].values():
        environment = service.get("environment") or {}
        used |= {name for name in environment if name.startswith("SENTINEL_")}
        used |= {m.group(1) for value in environment.values() for m in INTERPOLATION.finditer(str(value))}
    used |= set(re.findall(r"SENTINEL_[A-Z0-9_]+", DEPLOY_MD))
    used = {name for name in used if name.startswith("SENTINEL_")} - NOT_SETTINGS
    assert used, "nothing found: the parsing is broken"
    assert used <= SETTINGS, f"not settings: {sorted(used - SETTINGS)}"


def test_api_and_workers_share_what_they_must(monkeypatch: pytest.MonkeyPatch) -> None:
    api, worker = (sentinel_services()[name] for name in ("api", "worker"))
    for name in (
        "SENTINEL_DATABASE_URL",
        "SENTINEL_REDIS_URL",
        "SENTINEL_WEBHOOK_SECRET",
        "SENTINEL_SESSION_SECRET",
        "SENTINEL_BLOB_DIR",
    ):
        assert api["environment"][name] == worker["environment"][name], name
    assert api["volumes"] == worker["volumes"]
    data_dir = api["environment"]["SENTINEL_DATA_DIR"]
    assert any(volume.split(":")[1] == data_dir for volume in api["volumes"])
    assert api["environment"]["SENTINEL_BLOB_DIR"].startswith(data_dir + "/")
    # The environment compose would give the API is one Sentinel accepts, and a production one.
    for name in list(os.environ):
        if name.startswith("SENTINEL_"):
            monkeypatch.delenv(name)
    for name, value in api["environment"].items():
        monkeypatch.setenv(name, interpolate(str(value)))
    settings = Settings()
    assert settings.database_url and settings.database_url.startswith("postgresql://")
    assert settings.redis_url and settings.webhook_secret and settings.session_secret
    assert settings.log_format == "json"


def _seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return int(match.group(1))


def test_probes_and_grace_periods_fit_the_settings() -> None:
    api, worker = (sentinel_services()[name] for name in ("api", "worker"))
    api_port = api["command"][api["command"].index("--port") + 1]
    assert f"127.0.0.1:{api_port}/readyz" in " ".join(api["healthcheck"]["test"])
    assert f"{api_port}:{api_port}" in api["ports"]
    metrics_port = worker["environment"]["SENTINEL_WORKER_METRICS_PORT"]
    assert f"127.0.0.1:{metrics_port}/metrics" in " ".join(worker["healthcheck"]["test"])
    for service in (api, worker):
        grace = int(service["environment"]["SENTINEL_SHUTDOWN_GRACE_SECONDS"])
        # HTTP requests, then the worker's messages, each get the grace.
        assert _seconds(service["stop_grace_period"]) >= 2 * grace


def test_the_commands_and_options_the_files_use_exist() -> None:
    runner = CliRunner()
    for command, options in (("serve", ["--host", "--port"]), ("worker", ["--processes", "--threads"])):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        for option in options:
            assert option in result.output
    assert runner.invoke(app, ["migrate", "--help"]).exit_code == 0
    assert runner.invoke(app, ["doctor", "--help"]).exit_code == 0


def test_the_dockerfile_installs_the_package_on_python_3_11_slim() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install ." in dockerfile
    for folder in ("sentinel", "rubrics", "judges"):
        assert f"COPY {folder} ./{folder}" in dockerfile  # the wheel packs rubrics/ and judges/ in
    env = dict(re.findall(r"(SENTINEL_[A-Z_]+)=(\S+)", dockerfile))
    assert set(env) <= SETTINGS
    assert env["SENTINEL_DATA_DIR"] == sentinel_services()["api"]["environment"]["SENTINEL_DATA_DIR"]


def kubernetes_objects() -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", DEPLOY_MD, re.S)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def test_the_kubernetes_setup_in_the_docs_is_consistent(client) -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in kubernetes_objects()}
    secret = objects[("Secret", "sentinel")]["stringData"]
    assert {"SENTINEL_WEBHOOK_SECRET", "SENTINEL_SESSION_SECRET", "SENTINEL_DATABASE_URL", "SENTINEL_REDIS_URL"} <= set(
        secret
    )
    job = objects[("Job", "sentinel-migrate")]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["sentinel", "migrate"]
    api = objects[("Deployment", "sentinel-api")]["spec"]["template"]["spec"]
    worker = objects[("Deployment", "sentinel-worker")]["spec"]["template"]["spec"]
    container = api["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Each replica leaves rotation for its own faults only, not all at once for the shared broker or backlog.
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz?scope=instance"
    for path in ("/healthz", "/readyz?scope=instance"):
        assert client.get(path).status_code == 200, path
    for spec in (api, worker):
        env = {item["name"]: item["value"] for item in spec["containers"][0]["env"]}
        assert set(env) <= SETTINGS
        grace = int(env["SENTINEL_SHUTDOWN_GRACE_SECONDS"])
        pre_stop = spec["containers"][0].get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        sleep = int(pre_stop[-1]) if pre_stop[:1] == ["sleep"] else 0
        assert spec["terminationGracePeriodSeconds"] >= 2 * grace + sleep
        claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
        assert claims == {"sentinel-data"}, "API and workers must share the blob store"
    worker_env = {item["name"]: item["value"] for item in worker["containers"][0]["env"]}
    assert worker["containers"][0]["livenessProbe"]["httpGet"]["port"] == int(
        worker_env["SENTINEL_WORKER_METRICS_PORT"]
    )


def test_the_docs_name_the_real_files() -> None:
    for path in re.findall(r"`((?:sentinel|tests)/[\w/.]+\.py)`", DEPLOY_MD):
        assert (REPO / path).is_file(), path
    assert Path(REPO / "compose.yaml").is_file()
