"""``sentinel bench load``: sustained evaluations per second, time to verdict, and proof that none was lost.

Starts one API process and ``processes`` worker processes on Redis (or RabbitMQ) + PostgreSQL, or the embedded
default, keeps ``clients`` callers each submitting an evaluation and waiting for its verdict, for ``seconds``; then
drains and checks every submitted evaluation has exactly one verdict and one vote per judge.

Scaling is reported per core: the CPU seconds the deployment used (the API and worker processes; with the broker's
and the database's servers in a second figure) divided by the wall time is the number of cores it kept busy, and
evaluations per second divided by that is evaluations per second per core: how many one fully used core delivers.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import resource
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import (
    Deployment,
    _stat_cpu_seconds,
    cpu_seconds,
    deployment,
    process_cpu_seconds,
    process_tree,
)
from sentinel.bench.judges import time_task
from sentinel.bench.scenes import scene_png
from sentinel.evaluation.runner import JUDGE_THREAD_NAME
from sentinel.wiring import get_services

#: Distinct pictures drawn for the load; each submission is still a file of its own (LoadImage.submission), so every
#: evaluation decodes and reads its picture, as in production.
DISTINCT_IMAGES = 48
#: Seconds of the full load before the meter starts, once every worker process has booted: a process's first
#: messages open its database pool, fill its statement caches and load the OCR models, which a deployment pays once
#: per process start, not per evaluation.
WARM_UP_SECONDS = 3.0
#: A worker process has booted when its main thread has used no CPU for this long (see wait_for_worker_processes).
BOOTED_QUIET_SECONDS = 1.0
#: Seconds the deployment is metered with nothing to do, once the load is over: what each stage spends per second
#: whatever the load (polls, heartbeats, the outbox relays, the sweep). Its share of a stage's CPU per evaluation
#: grows as the rate falls, as it does on a machine whose cores other work takes: the split shows how much.
IDLE_SECONDS = 5.0
#: Seconds after the load before the idle meter starts: a worker process hands its decodes' heap back to the OS
#: once its work has stayed run out for a second (sentinel.store.images), a cost of the load's end, not of idling.
SETTLE_SECONDS = 2.0


#: The picture `bench load` judges unless told otherwise: photo-like scenes, as production judges. The old flat
#: picture (``plain``) lets the text judge skip the OCR and costs the panel about a quarter of a photograph's CPU.
DEFAULT_SCENE = "photo"
#: Files `--images` judges: PNG and JPEG, by their suffix.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class LoadImage:
    """One picture the callers submit: its bytes, MIME type and file name."""

    data: bytes
    mime: str
    name: str

    def submission(self, number: int) -> bytes:
        """The picture as submission ``number`` sends it: the same pixels in a file of its own (a comment holding
        the number), so its id differs from every other submission's. A worker remembers the OCR pages of the last
        64 pictures it read, by id: cycling the same 48 files, most evaluations after the first round found their
        page there and skipped the text judge's OCR, which no production stream of new pictures does."""
        mark = f"sentinel bench load {number}".encode()
        if self.mime == "image/png":
            # A tEXt chunk right after IHDR (8 bytes of signature, then IHDR's 25).
            chunk = b"tEXt" + b"Comment\x00" + mark
            body = len(chunk) - 4
            packed = body.to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big")
            return self.data[:33] + packed + self.data[33:]
        # A JPEG comment segment after the APPn segments (EXIF stays where readers look for it).
        at = 2
        while at + 4 <= len(self.data) and self.data[at] == 0xFF and 0xE0 <= self.data[at + 1] <= 0xEF:
            at += 2 + int.from_bytes(self.data[at + 2 : at + 4], "big")
        return self.data[:at] + b"\xff\xfe" + (len(mark) + 2).to_bytes(2, "big") + mark + self.data[at:]


def sample_image(side: int, seed: int, scene: str = DEFAULT_SCENE) -> bytes:
    """A PNG with content (the offline judges do real work on it), different per seed: a photo-like scene, or the
    old flat ``plain`` picture (see sentinel.bench.scenes)."""
    return scene_png(scene, side, seed)


def scene_images(side: int, scene: str, count: int = DISTINCT_IMAGES) -> list[LoadImage]:
    return [LoadImage(sample_image(side, seed, scene), "image/png", f"{scene}-{seed}.png") for seed in range(count)]


def folder_images(folder: Path) -> list[LoadImage]:
    """Every PNG and JPEG file of ``folder`` (not its sub-folders), by name, checked to be the picture its suffix
    says; ValueError names the folder or file that cannot be used."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_TYPES)
    if not files:
        raise ValueError(f"{folder} holds no .png, .jpg or .jpeg file")
    images = []
    for path in files:
        data = path.read_bytes()
        mime = IMAGE_TYPES[path.suffix.lower()]
        try:
            with Image.open(io.BytesIO(data)) as opened:
                found = Image.MIME.get(opened.format or "")
                opened.verify()
        except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ValueError(f"{path} cannot be read as a PNG or JPEG picture") from exc
        if found != mime:
            raise ValueError(f"{path} is {found or 'not an image'}, not the {mime} its name says")
        images.append(LoadImage(data, mime, path.name))
    return images


@dataclass
class LoadResult:
    submitted: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


#: Submissions so far, over every caller: each gets a number of its own (see LoadImage.submission).
_submissions = itertools.count()


async def _caller(client: httpx.AsyncClient, images: list[LoadImage], until: float, result: LoadResult) -> None:
    index = 0
    while time.monotonic() < until:
        image = images[index % len(images)]
        index += 1
        started = time.perf_counter()
        created = await client.post(
            "/v1/evaluations",
            data={"task": "text-to-image", "params": '{"width": 1024, "height": 1024}'},
            files={"image": (image.name, image.submission(next(_submissions)), image.mime)},
        )
        if created.status_code != 202:
            result.errors.append(f"{created.status_code}: {created.text[:200]}")
            continue
        evaluation_id = created.json()["id"]
        result.submitted.append(evaluation_id)
        while True:
            response = await client.get(f"/v1/evaluations/{evaluation_id}", params={"wait": 30})
            response.raise_for_status()
            if response.json()["status"] == "done":
                break
        result.latencies_ms.append((time.perf_counter() - started) * 1000)


async def _load(
    base: str,
    clients: int,
    seconds: float,
    images: list[LoadImage],
    on_start: Callable[[], None],
    warm_up_seconds: float = WARM_UP_SECONDS,
) -> LoadResult:
    result = LoadResult()
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        # Warm-up: the same load, unmeasured, so every worker process has loaded its OCR models and opened its pool.
        await _caller(client, images[:1], time.monotonic() + 0.001, LoadResult())
        warm_until = time.monotonic() + warm_up_seconds
        await asyncio.gather(*(_caller(client, images, warm_until, LoadResult()) for _ in range(clients)))
        on_start()
        started = time.monotonic()
        await asyncio.gather(*(_caller(client, images, started + seconds, result) for _ in range(clients)))
        result.seconds = time.monotonic() - started
    return result


def judges_cpu_ms(side: int, images: list[LoadImage], count: int = 16) -> dict[str, float]:
    """The offline panel's CPU per evaluation on (the first ``count`` of) the load's images, measured in this process
    one at a time, in all and per judge (means): a vote's own duration under load also counts the wait for its
    process's OCR engine."""
    services = get_services()
    params = {"width": side, "height": side}
    timings = [
        time_task(services, "text-to-image", {"image": image.data}, params, 1, side, int(index == 0))
        for index, image in enumerate(images[:count])
    ]
    # CPU time, not wall: on a loaded machine a judge's wall time counts the other processes' turns too. Means, not
    # medians: the load cycles its pictures evenly, and a photo's OCR work varies from one to the next.
    split = {name: statistics.mean(t.judges_cpu_ms[name] for t in timings) for name in timings[0].judges_cpu_ms}
    return {"panel": statistics.mean(sum(t.judges_cpu_ms.values()) for t in timings), **split}


def main_thread_cpu_seconds(pid: int) -> float | None:
    """CPU seconds so far of the main thread of ``pid`` alone (not its other threads)."""
    try:
        return _stat_cpu_seconds(Path(f"/proc/{pid}/task/{pid}/stat").read_text())
    except OSError:
        return None


def _thread_count(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/task").glob("*"))


def wait_for_worker_processes(
    worker_pid: int, processes: int, timeout: float = 300.0, quiet_seconds: float = BOOTED_QUIET_SECONDS
) -> None:
    """Return once each of the ``processes`` worker processes under ``worker_pid`` (dramatiq's parent) has booted.

    A worker process's main thread imports the actors, starts the worker threads and opens the database (schema
    check included), then only sleeps in dramatiq's loop: booted is a main thread that has used no CPU for
    ``quiet_seconds``, in a process that runs other threads. On a busy machine that takes many seconds after the API
    answers; a meter started before counted each process's start-up as the workers' work per evaluation."""
    deadline = time.monotonic() + timeout
    last: dict[int, float | None] = {}
    while time.monotonic() < deadline:
        children = process_tree(worker_pid)[1:]
        now = {child: main_thread_cpu_seconds(child) for child in children}
        booted = [
            child
            for child, seconds in now.items()
            if seconds is not None and last.get(child) == seconds and _thread_count(child) > 1
        ]
        if len(booted) >= processes:
            return
        last = now
        time.sleep(quiet_seconds)
    raise RuntimeError(f"the {processes} worker processes did not boot within {timeout:g} s")


def _audit(base: str, evaluation_ids: list[str]) -> dict[str, int]:
    """Every submitted evaluation read back: done, one vote per expected judge, nothing missing."""
    counts = {"done": 0, "lost": 0, "vote_mismatch": 0}
    with httpx.Client(base_url=base, timeout=60) as client:
        for evaluation_id in evaluation_ids:
            response = client.get(f"/v1/evaluations/{evaluation_id}")
            response.raise_for_status()  # an audit that cannot read an evaluation must not call it lost
            answer = response.json()
            if answer.get("status") != "done":
                counts["lost"] += 1
                continue
            counts["done"] += 1
            voted = [j["judge"] for j in answer["judges"]]
            if sorted(voted) != sorted(answer["judges_expected"]) or answer["votes_in"] != len(voted):
                counts["vote_mismatch"] += 1
    return counts


def thread_cpu_seconds(pid: int) -> dict[tuple[int, int], float]:
    """CPU seconds so far of every thread of ``pid`` and its descendants, by (process, thread) id, but the offline
    judges' threads (named ``JUDGE_THREAD_NAME``)."""
    found: dict[tuple[int, int], float] = {}
    for member in process_tree(pid):
        for stat in Path(f"/proc/{member}/task").glob("*/stat"):
            try:
                text = stat.read_text()
                # A thread that has ended (a judge's, just joined) can stay listed a moment as dead or a zombie:
                # its CPU is the judges', not the worker's own.
                if text.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
                # The judges' own threads, kept between messages: their CPU is the judges'.
                if text[text.index("(") + 1 : text.rindex(")")] == JUDGE_THREAD_NAME:
                    continue
                found[(member, int(stat.parent.name))] = _stat_cpu_seconds(text)
            except (OSError, ValueError, IndexError):
                continue
    return found


def postgres_cpu_seconds(database_url: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL processes that work for ``database_url``'s database: its backends and
    the server's own background processes (WAL writer, checkpointer...), not other databases' backends (a shared
    server runs other people's tests too)."""
    import psycopg
    from sqlalchemy.engine import make_url

    libpq_url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq_url, autocommit=True) as connection:
        pids = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() OR datname IS NULL)"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    found: dict[int, float] = {}
    for (pid,) in pids:
        seconds = process_cpu_seconds(pid)
        if seconds is not None:
            found[pid] = seconds
    return found


def server_cpu_seconds(names: tuple[str, ...]) -> dict[int, float]:
    """CPU seconds so far of every process on this machine whose command name is one of ``names``, each on its own
    (PostgreSQL's backends are children of its postmaster: counting trees would count them twice)."""
    found: dict[int, float] = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in names:
                pid = int(comm.parent.name)
                found[pid] = process_cpu_seconds(pid) or 0.0
        except (OSError, ValueError):
            continue
    return found


@dataclass
class CpuMeter:
    """CPU time, per stage of the deployment, spent between ``start()`` and ``stop()``."""

    running: Deployment
    spent: dict[str, float] = field(default_factory=dict)
    _start: dict[str, Any] = field(default_factory=dict)
    #: Also count RabbitMQ's server (the queues are there, not on Redis).
    rabbitmq: bool = False
    #: Count the Redis server: only when the deployment uses it. The embedded default has none, and the machine's
    #: Redis, serving other work, was charged to it.
    redis: bool = True
    #: The run's PostgreSQL database: only its backends (and the server's background processes) are counted.
    database_url: str | None = None

    def _read(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        read = {
            "api": cpu_seconds(self.running.api_pid) or 0.0,
            "workers": cpu_seconds(self.running.worker_pid) or 0.0 if self.running.worker_pid else 0.0,
            "postgres": postgres_cpu_seconds(self.database_url)
            if self.database_url and self.database_url.startswith("postgresql")
            else {},
            "load_generator": usage.ru_utime + usage.ru_stime,
        }
        if self.running.worker_pid:
            read["worker_threads"] = thread_cpu_seconds(self.running.worker_pid)
        if self.redis:
            read["redis"] = server_cpu_seconds(("redis-server",))
        if self.rabbitmq:
            read["rabbitmq"] = server_cpu_seconds(("beam.smp",))
        return read

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> None:
        end = self._read()
        for stage, value in end.items():
            before = self._start.get(stage, 0.0)
            if isinstance(value, dict):  # processes (threads) that started during the run count from zero
                self.spent[stage] = sum(v - before.get(pid, 0.0) for pid, v in value.items())
            else:
                self.spent[stage] = value - before
        if "worker_threads" in self.spent:
            # The workers' threads alive when the load ended, the judges' aside, are their queue and database work
            # (consumers, worker threads, relay, event loop); the offline judges run on threads named for them (and
            # any that ended were theirs), so what the workers spent beyond their own live threads is the judges'
            # (decode included), measured under the load rather than estimated apart.
            self.spent["workers_queue_and_database"] = self.spent.pop("worker_threads")
            self.spent["workers_judges"] = max(0.0, self.spent["workers"] - self.spent["workers_queue_and_database"])


def stage_costs(spent: dict[str, float], judges: float, finished: int, in_process: bool) -> dict[str, Any]:
    """CPU ms per evaluation for each stage, and each stage's share. The judges' and the workers' own work are
    measured in the workers (see :class:`CpuMeter`); on the embedded default, where the judges share the API's
    process, ``judges`` (the panel's CPU per evaluation measured alone) is taken out of the API's."""
    if not finished:
        return {}
    per = {stage: seconds * 1000 / finished for stage, seconds in spent.items()}
    measured = not in_process and "workers_judges" in per
    stages = {
        "api": per["api"] - (judges if in_process else 0.0),
        "judges": per["workers_judges"] if measured else judges,
        "workers' queue and database work": per["workers_queue_and_database"]
        if measured
        else 0.0
        if in_process
        else max(0.0, per["workers"] - judges),
        **({"redis": per["redis"]} if "redis" in per else {}),
        **({"rabbitmq": per["rabbitmq"]} if "rabbitmq" in per else {}),
        "postgres": per["postgres"],
        "load_generator": per["load_generator"],
    }
    # Shares of Sentinel's own work: the load generator is reported, not counted.
    total = sum(ms for stage, ms in stages.items() if stage != "load_generator")
    return {
        "cpu_ms_per_evaluation": {stage: round(ms, 1) for stage, ms in stages.items()},
        "share": {
            stage: round(ms / total, 3) if total else 0.0 for stage, ms in stages.items() if stage != "load_generator"
        },
    }


def idle_costs(spent: dict[str, float], idle_seconds: float, load_seconds: float, finished: int) -> dict[str, Any]:
    """Each stage's CPU while the deployment was idle, in ms per second, and what that rate comes to per evaluation
    over the load's wall time (the part of a stage's CPU per evaluation that is time, not evaluations: an upper
    bound, since threads busy with evaluations do not also poll)."""
    if idle_seconds <= 0:
        return {}
    stages = ("api", "workers", "redis", "rabbitmq", "postgres")
    per_second = {stage: spent[stage] * 1000 / idle_seconds for stage in stages if stage in spent}
    figures: dict[str, Any] = {"idle_cpu_ms_per_second": {name: round(ms, 2) for name, ms in per_second.items()}}
    if finished and load_seconds > 0:
        figures["idle_cpu_ms_per_evaluation"] = {
            name: round(ms * load_seconds / finished, 2) for name, ms in per_second.items()
        }
    return figures


def per_core(spent: dict[str, float], finished: int, seconds: float, processes: int | None) -> dict[str, Any]:
    """Evaluations per second per core: per core the deployment kept busy (its CPU seconds / wall seconds), for
    Sentinel's own processes and with the broker and database servers; and per worker process."""
    if not seconds or not finished:
        return {}
    sentinel = spent.get("api", 0.0) + spent.get("workers", 0.0)
    servers = sum(spent.get(name, 0.0) for name in ("redis", "rabbitmq", "postgres"))
    rate = finished / seconds
    figures: dict[str, Any] = {
        "cores_used": round(sentinel / seconds, 2),
        "cores_used_with_servers": round((sentinel + servers) / seconds, 2),
        "evaluations_per_second_per_core": round(finished / sentinel, 2) if sentinel else None,
        "evaluations_per_second_per_core_with_servers": round(finished / (sentinel + servers), 2),
    }
    if processes:
        figures["evaluations_per_second_per_worker_process"] = round(rate / processes, 2)
    return figures


def run(
    clients: int,
    seconds: float,
    side: int,
    redis_url: str | None,
    database_url: str | None,
    progress: Progress = quiet,
    *,
    processes: int = 2,
    broker_url: str | None = None,
    scene: str = DEFAULT_SCENE,
    images_dir: Path | None = None,
) -> dict[str, Any]:
    """``images_dir``: judge its PNG and JPEG files (cycled) instead of the built-in ``scene``."""
    images = folder_images(images_dir) if images_dir else scene_images(side, scene)
    picture = f"{len(images)} image(s) of {images_dir}" if images_dir else f"{len(images)} '{scene}' scenes"
    broker = "RabbitMQ" if broker_url and broker_url.startswith("amqp") else "Redis"
    plural = "es" if processes != 1 else ""
    mode = (
        f"{broker} + PostgreSQL, 1 API process, {processes} worker process{plural}"
        if redis_url
        else "embedded (SQLite, in-process)"
    )
    with deployment(redis_url, database_url, worker_processes=processes, broker_url=broker_url) as running:
        if running.worker_pid:
            wait_for_worker_processes(running.worker_pid, processes)
        progress(f"{mode} up; {clients} clients on {picture} for {seconds:g} s after {WARM_UP_SECONDS:g} s of warm-up")
        meter = CpuMeter(running, rabbitmq=broker == "RabbitMQ", redis=bool(redis_url), database_url=database_url)
        result = asyncio.run(_load(running.base, clients, seconds, images, meter.start))
        meter.stop()
        progress(f"load done: {len(result.latencies_ms)} verdicts; idle for {SETTLE_SECONDS + IDLE_SECONDS:g} s")
        # Every caller had its verdict: the deployment is idle, warmed up by the load.
        time.sleep(SETTLE_SECONDS)
        idle = CpuMeter(running, rabbitmq=broker == "RabbitMQ", redis=bool(redis_url), database_url=database_url)
        idle.start()
        time.sleep(IDLE_SECONDS)
        idle.stop()
        idle_per_second = idle_costs(idle.spent, IDLE_SECONDS, 0.0, 0)["idle_cpu_ms_per_second"]
        progress(
            "idle after the load, CPU ms per second: " + ", ".join(f"{k} {v:g}" for k, v in idle_per_second.items())
        )
        progress(f"auditing {len(result.submitted)} submitted")
        audit = _audit(running.base, result.submitted)
    latencies = sorted(result.latencies_ms)
    alone = judges_cpu_ms(side, images)
    judges_ms = alone.pop("panel")
    return {
        "mode": mode,
        "images": str(images_dir) if images_dir else f"scene: {scene}",
        "broker": broker if redis_url else "embedded",
        "worker_processes": processes if redis_url else 0,
        "clients": clients,
        "seconds": round(result.seconds, 1),
        "submitted": len(result.submitted),
        "finished": len(latencies),
        "evaluations_per_second": round(len(latencies) / result.seconds, 2) if result.seconds else 0.0,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1) if latencies else None,
        "errors": len(result.errors),
        "first_error": result.errors[0] if result.errors else None,
        **audit,
        **stage_costs(meter.spent, judges_ms, len(latencies), in_process=not redis_url),
        # The panel's CPU per evaluation measured alone, one at a time in this process (a check on the figure
        # measured in the workers under load, which also counts their contention).
        "judges_alone_cpu_ms": round(judges_ms, 1),
        "judges_alone_cpu_ms_by_judge": {name: round(ms, 1) for name, ms in alone.items()},
        **per_core(meter.spent, len(latencies), result.seconds, processes if redis_url else None),
        **idle_costs(idle.spent, IDLE_SECONDS, result.seconds, len(latencies)),
    }
