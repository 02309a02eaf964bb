"""What the benchmarks share: Sentinel started in processes of its own, as in a deployment, and their CPU time
and memory read from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from sentinel.db.redis_keys import delete_namespace


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking).

    Kept here rather than imported from ``sentinel_fakes``: the benchmarks start the fake providers as processes
    of their own (``python -m sentinel_fakes``), so the service package needs no import of the test doubles."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def started_process(
    args: list[str],
    env: dict[str, str],
    ready_url: str,
    log: Path | None = None,
    ready_timeout: float = 30,
    stop_timeout: float | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` until the block ends, once ``ready_url`` answers (within ``ready_timeout`` seconds); its output
    goes to ``log`` if given. At the end it is asked to stop (SIGTERM) and given ``stop_timeout`` seconds (by
    default the shutdown grace its settings give it, and some more) before it is killed: a server still busy with
    queued work takes its grace period to stop, and a bench that gave it less died with a traceback after measuring,
    its results lost."""
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT if log else output)
    try:
        _wait_for(ready_url, process, ready_timeout)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_timeout if stop_timeout is not None else _stop_grace(env))
        except subprocess.TimeoutExpired:
            print(f"{args[-3:]} did not stop in time after SIGTERM: killed", file=sys.stderr)
            process.kill()
            process.wait()
        if log:
            output.close()  # type: ignore[union-attr]


def _stop_grace(env: dict[str, str]) -> float:
    """How long a process may take to stop: its shutdown grace (``SENTINEL_SHUTDOWN_GRACE_SECONDS``, else the
    default's 25 s) and 15 s more for the rest of its stop."""
    try:
        grace = float(env.get("SENTINEL_SHUTDOWN_GRACE_SECONDS", "25"))
    except ValueError:
        grace = 25.0
    return grace + 15.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a peer gateway may serve from worker processes)."""
    tree, index = [pid], 0
    while index < len(tree):
        for children in Path(f"/proc/{tree[index]}/task").glob("*/children"):
            try:
                tree.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
        index += 1
    return tree


def _tree_files(pid: int, name: str) -> list[str] | None:
    """``/proc/PID/NAME`` of the process and of each descendant still running; None when the process is not
    there (or there is no /proc)."""
    texts: list[str] = []
    for member in process_tree(pid):
        try:
            texts.append(Path(f"/proc/{member}/{name}").read_text())
        except OSError:
            if member == pid:
                return None
    return texts


def _stat_cpu_seconds(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of this one process (Linux /proc), its children aside."""
    try:
        return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process and its descendants have used (Linux /proc), or None without /proc."""
    stats = _tree_files(pid, "stat")
    return None if stats is None else sum(_stat_cpu_seconds(stat) for stat in stats)


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory so far (VmHWM) of the process and its descendants, summed, in MiB."""
    statuses = _tree_files(pid, "status")
    if statuses is None:
        return None
    peaks = (line.split()[1] for status in statuses for line in status.splitlines() if line.startswith("VmHWM:"))
    return sum(int(kib) for kib in peaks) / 1024


#: A benchmark is one client address sending far more than a person would: per-address limits off.
UNLIMITED_ADDRESSES = {"SENTINEL_ANONYMOUS_RPM": str(10**9)}


@dataclass
class Deployment:
    """A running deployment: its base URL, and its API and worker processes (for their CPU time)."""

    base: str
    api_pid: int
    worker_pid: int | None = None


@contextmanager
def deployment(
    redis_url: str | None,
    database_url: str | None,
    extra_env: dict[str, str] | None = None,
    *,
    worker_processes: int = 2,
    worker_threads: int = 4,
    broker_url: str | None = None,
    log_dir: Path | None = None,
) -> Iterator[Deployment]:
    """``sentinel serve`` in its own data folder, embedded or, with both URLs, on Redis + PostgreSQL with a
    ``sentinel worker`` of ``worker_processes`` processes beside it; ``broker_url`` (``amqp://…``) puts the queues
    on RabbitMQ instead, Redis keeping the rate limits and wake-ups. ``log_dir``: where api.log and worker.log go
    (nowhere if unset)."""
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-jobs-") as tmp, ExitStack() as stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")} | (extra_env or {})
        env["SENTINEL_DATA_DIR"] = str(Path(tmp) / "data")
        env |= UNLIMITED_ADDRESSES
        if redis_url:
            namespace = f"sentinel-bench-{uuid.uuid4().hex[:8]}"
            env |= {"SENTINEL_REDIS_URL": redis_url, "SENTINEL_REDIS_NAMESPACE": namespace}
            stack.callback(delete_namespace, redis_url, namespace)
        if database_url:
            env["SENTINEL_DATABASE_URL"] = database_url
        if broker_url:
            env["SENTINEL_BROKER_URL"] = broker_url
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api = stack.enter_context(
            started_process(
                [sys.executable, "-m", "sentinel.cli", "serve", "--port", str(port)],
                env,
                f"{base}/healthz",
                log_dir / "api.log" if log_dir else None,
            )
        )
        running = Deployment(base, api.pid)
        if redis_url:
            worker_log = stack.enter_context((log_dir / "worker.log").open("wb")) if log_dir else subprocess.DEVNULL
            worker = subprocess.Popen(
                [
                    *(sys.executable, "-m", "sentinel.cli", "worker"),
                    *("--processes", str(worker_processes), "--threads", str(worker_threads)),
                ],
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT if log_dir else subprocess.DEVNULL,
            )
            stack.callback(_stop, worker)
            running.worker_pid = worker.pid
        yield running


def _stop(process: subprocess.Popen[bytes], grace_seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace_seconds`` (a worker waiting for calls it started)."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        for member in reversed(process_tree(process.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        process.wait(timeout=grace_seconds)


#: A job in one of these states changes no more.
FINAL_JOB_STATES = ("done", "failed", "expired", "cancelled")


def api_message(response: httpx.Response) -> str:
    """The API's own error message (``{"error": {"message": ...}}``), else the start of the body."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


def _paced(send: Callable[[], httpx.Response], tries: int = 5) -> httpx.Response:
    """``send()``, asked again after the Retry-After of a 429 (at most a minute): a key's rate limit paces a long run
    of jobs, it does not end it."""
    response = send()
    for _ in range(tries - 1):
        if response.status_code != 429:
            break
        try:
            pause = float(response.headers.get("retry-after", "1"))
        except ValueError:
            pause = 1.0
        time.sleep(min(60.0, max(0.1, pause)))
        response = send()
    return response


def run_job(client: httpx.Client, body: dict[str, Any], wait: float = 30) -> dict[str, Any]:
    """POST /v1/jobs and long-poll the job until it is final; a RuntimeError with the API's message if refused."""
    created = _paced(lambda: client.post("/v1/jobs", json=body))
    if created.status_code != 202:
        raise RuntimeError(f"POST /v1/jobs answered {created.status_code}: {api_message(created)}")
    job: dict[str, Any] = created.json()
    path = f"/v1/jobs/{job['id']}"
    while job["state"] not in FINAL_JOB_STATES:
        polled = _paced(lambda: client.get(path, params={"wait": wait}))
        if polled.status_code != 200:
            raise RuntimeError(f"GET {path} answered {polled.status_code}: {api_message(polled)}")
        job = polled.json()
    return job


def ms_between(start: str, end: str) -> float:
    """Milliseconds between two ISO timestamps of the API."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


def astronaut(side: int = 1024) -> Image.Image:
    """scikit-image's astronaut photo, ``side`` pixels square."""
    # Imported here on purpose: scikit-image is slow to import and only the benchmarks that draw the photo need it.
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((side, side), Image.Resampling.LANCZOS)
