"""Test set-up: every run gets its own data folder, PostgreSQL database and Redis namespace."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

# Bytecode caches on, here and in every process a test starts: where PYTHONDONTWRITEBYTECODE is set (as the service
# image sets it), each `sentinel` process compiled the package from source again and pytest rewrote every test
# module's asserts again in each of its processes, on every run.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Before any sentinel import reads settings: the in-process tests use the embedded defaults.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="sentinel-test-"))
for _name in list(os.environ):
    if _name.startswith("SENTINEL_"):
        del os.environ[_name]
os.environ["SENTINEL_DATA_DIR"] = str(_DATA_DIR)
# Every test of a worker logs in to the one in-process app from the same address: how many do so within a minute
# depends on the machine's speed, and ten (the default) were reached on a fast run. The limit itself is tested on a
# server of its own (tests/keys/test_keys.py).
os.environ["SENTINEL_LOGIN_ATTEMPTS_PER_MINUTE"] = "100000"

import httpx  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from tests.support.scratch_databases import ScratchDatabases  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SENTINEL = str(Path(sys.executable).parent / "sentinel")
#: Tests that need them talk to the machine's real servers.
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    undropped = _SCRATCH_DATABASES.finish()
    shutil.rmtree(_DATA_DIR, ignore_errors=True)
    if undropped:
        print("scratch databases that could not be dropped:", *undropped, sep="\n", file=sys.stderr)


def load_cases() -> list[dict]:
    return yaml.safe_load((FIXTURES / "cases.yaml").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pg_services(tmp_path: Path) -> Iterator[object]:
    """The services on a PostgreSQL database of their own: messages a test leaves unsent there reach no other test's
    relay, and its statements can be counted alone."""
    from sentinel.settings import Settings
    from sentinel.wiring import build_services

    with own_postgres_database() as url:
        built = build_services(Settings(data_dir=tmp_path / "data", database_url=url))
        yield built
        built.engine.dispose()


#: This test process's scratch databases: copies of one migrated template, dropped by a thread of their own.
_SCRATCH_DATABASES = ScratchDatabases(POSTGRES_ADMIN_URL)


def own_postgres_database(*, migrated: bool = True) -> AbstractContextManager[str]:
    """A database of our own on the real PostgreSQL server (at the newest revision unless ``migrated`` is false, then
    empty), dropped afterwards (its connections cut first)."""
    return _SCRATCH_DATABASES.database(migrated=migrated)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The session's database on the real PostgreSQL server. Servers on it run open (no API keys): a test that
    creates keys uses a database of its own (``own_postgres_database``), or every later test would need a key."""
    with own_postgres_database() as url:
        yield url


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
        with contextlib.suppress(ProcessLookupError):  # it may have exited already; its failure is the story
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


#: What `sentinel serve` says when the port it was given was taken meanwhile (by another test's server, between the
#: free_port that found it and the bind): "error: port N is already in use (…)".
PORT_TAKEN = "already in use"


def start_server(
    env: dict[str, str], log: Path, timeout: float = 30.0, cwd: Path = REPO, args: Sequence[str] = ()
) -> tuple[RunningProcess, str]:
    """`sentinel serve` (with ``args``) on a free port; returns once /healthz answers on 127.0.0.1 (on another port if
    the first was taken)."""
    for _ in range(5):
        started = _start_server_on(free_port(), env, log, timeout, cwd, args)
        if started is not None:
            return started
    raise RuntimeError(f"sentinel serve found no free port in 5 tries:\n{log.read_text(errors='replace')}")


def _start_server_on(
    port: int, env: dict[str, str], log: Path, timeout: float, cwd: Path, args: Sequence[str] = ()
) -> tuple[RunningProcess, str] | None:
    """The server and its URL once /healthz answers; None when its port was taken by someone else."""
    server = RunningProcess([SENTINEL, "serve", "--port", str(port), *args], env, log, cwd)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if PORT_TAKEN in server.output():
                server.stop()
                return None
            raise RuntimeError(f"sentinel serve exited:\n{server.output()}")
        try:
            answered = httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            answered = False
        # Whoever holds the port answers /healthz: it is ours once it says it runs on it (another test's server could
        # have taken the port between free_port and our bind, and answer before ours has said it is in use).
        if answered and f":{port} (Press CTRL+C to quit)" in server.output():
            return server, base
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


@contextlib.contextmanager
def serving_with_fake(fake_url: str, tmp_path: Path, **env: str) -> Iterator[str]:
    """`sentinel serve` (its base URL) whose one model, `house`, is the fake OpenAI provider at ``fake_url``
    (:func:`write_fake_routes`), with its data in ``tmp_path`` and ``env`` on top (a database, an allowed network)."""
    routes = write_fake_routes(tmp_path / "routes.yaml", fake_url)
    settings = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(routes), FAKE_KEY="sk-fake")
    server, base = start_server(settings | env, tmp_path / "serve.log")
    try:
        yield base
    finally:
        server.stop()


@pytest.fixture(scope="session")
def client() -> Iterator[object]:
    """The API in this process on the embedded defaults (SQLite, in-process broker and workers)."""
    from fastapi.testclient import TestClient

    from sentinel.api.app import create_app

    # Addressed to localhost as a local caller would: an open server answers no other name.
    with TestClient(create_app(), base_url="http://localhost") as test_client:
        yield test_client


def png_bytes(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=(20, 20, 220))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- S3-compatible object store (tests/s3server.py: moto, plus expiring presigned URLs and checked digests) ---


class S3Server:
    """A running tests/s3server.py: its address, a key pair it accepts, and helpers for buckets and settings."""

    region = "us-east-1"

    def __init__(self, process: RunningProcess, endpoint_url: str, access_key_id: str, secret_access_key: str) -> None:
        self.process = process
        self.endpoint_url = endpoint_url
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key

    def client(self) -> object:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A new bucket (a fresh, valid, unique name unless given); returns its name."""
        name = name or f"sentinel-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings_values(self, bucket: str, prefix: str = "") -> dict[str, object]:
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return {
            "blob_url": url,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": self.region,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
            "s3_path_style": True,
        }

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The SENTINEL_* variables that point a Sentinel process at ``s3://bucket/prefix`` on this server."""
        values = self.settings_values(bucket, prefix)
        return {f"SENTINEL_{k.upper()}": "true" if v is True else str(v) for k, v in values.items()}


def _start_s3_server(log: Path, auth: bool, timeout: float = 30.0) -> S3Server:
    port = free_port()
    args = [sys.executable, str(REPO / "tests" / "s3server.py"), "--port", str(port)]
    credentials_file = log.with_suffix(".credentials.json")
    if auth:
        args += ["--auth", "--credentials-file", str(credentials_file)]
    process = RunningProcess(args, clean_env(), log)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise RuntimeError(f"tests/s3server.py exited:\n{process.output()}")
        try:
            # Any answer will do (403 under --auth): the server is listening, and the key pair is written first.
            httpx.get(f"{endpoint}/", timeout=1)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        if auth:
            import json

            keys = json.loads(credentials_file.read_text())
            return S3Server(process, endpoint, keys["access_key_id"], keys["secret_access_key"])
        return S3Server(process, endpoint, "sentinel-test", "sentinel-test-secret")
    process.stop()
    raise RuntimeError(f"tests/s3server.py did not answer in {timeout} s:\n{process.output()}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3-compatible server (moto) on a free port; any key pair is accepted."""
    server = _start_s3_server(tmp_path_factory.mktemp("s3server") / "s3server.log", auth=False)
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def s3_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The same server checking credentials: only its IAM user's key pair (access_key_id, secret_access_key) works."""
    server = _start_s3_server(tmp_path_factory.mktemp("s3authserver") / "s3server.log", auth=True)
    yield server
    server.process.stop()


@pytest.fixture
def s3_store(s3_server: S3Server) -> object:
    """An S3BlobStore on a fresh bucket, under a prefix, made by S3BlobStore.from_url as Sentinel makes it."""
    from sentinel.settings import Settings
    from sentinel.store.s3 import S3BlobStore

    settings = Settings(**s3_server.settings_values(s3_server.create_bucket(), "blobs/test"))
    return S3BlobStore.from_url(settings.blob_url, settings)
