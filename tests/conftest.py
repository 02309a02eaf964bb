"""Test set-up: every run gets its own data folder, PostgreSQL database and Redis namespace."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

# Before any sentinel import reads settings: the in-process tests use the embedded defaults.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="sentinel-test-"))
for _name in list(os.environ):
    if _name.startswith("SENTINEL_"):
        del os.environ[_name]
os.environ["SENTINEL_DATA_DIR"] = str(_DATA_DIR)

import httpx  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SENTINEL = str(Path(sys.executable).parent / "sentinel")
#: Tests that need them talk to the machine's real servers.
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


def load_cases() -> list[dict]:
    return yaml.safe_load((FIXTURES / "cases.yaml").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of our own on the real PostgreSQL server, dropped afterwards."""
    import psycopg

    name = f"sentinel_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_keys(namespace: str) -> None:
    from sentinel.db.redis_keys import delete_namespace

    delete_namespace(REDIS_URL, namespace)


@pytest.fixture(scope="session")
def redis_namespace() -> Iterator[str]:
    """A key prefix of our own on the real Redis server, deleted afterwards."""
    namespace = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    yield namespace
    delete_redis_keys(namespace)


class RunningProcess:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path = REPO) -> None:
        self.log = log
        self._handle = log.open("wb")
        # A session of its own, so the whole tree (dramatiq forks worker processes) can be killed at once.
        self.process = subprocess.Popen(
            args, env=env, stdout=self._handle, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the process and every child: a machine losing power, as far as they can tell."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._handle.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._handle.close()


def start_server(env: dict[str, str], log: Path, timeout: float = 30.0, cwd: Path = REPO) -> tuple[RunningProcess, str]:
    """`sentinel serve` on a free port; returns once /healthz answers."""
    port = free_port()
    server = RunningProcess([SENTINEL, "serve", "--port", str(port)], env, log, cwd)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"sentinel serve exited:\n{server.output()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"sentinel serve did not come up in {timeout} s:\n{server.output()}")


def write_fake_routes(path: Path, fake_url: str) -> Path:
    """A routing file with one model, `house`, served by a fake OpenAI provider (key in FAKE_KEY), walked once."""
    routes = {
        "providers": {
            "fake": {"kind": "openai", "base_url": f"{fake_url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 5}
        },
        "models": {"house": {"candidates": [{"target": "fake:gpt-image-1"}]}},
        "default_model": "house",
        "max_passes": 1,
    }
    path.write_text(yaml.safe_dump(routes))
    return path


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def client() -> Iterator[object]:
    """The API in this process on the embedded defaults (SQLite, in-process broker and workers)."""
    from fastapi.testclient import TestClient

    from sentinel.api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def png_bytes(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=(20, 20, 220))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class NoDispatch:
    """A dispatcher that sends nothing: the test delivers the messages itself (or a restart does)."""

    def judge(self, evaluation_id: str, judge: str, time_limit_seconds: float) -> None:
        pass

    def finalise_later(self, evaluation_id: str, delay_seconds: float) -> None:
        pass
