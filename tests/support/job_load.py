"""A stream of ``POST /v1/jobs`` from a few client threads that behave as a careful real client does (each job has its
own Idempotency-Key; a connection error, a timeout or a 5xx is retried with the same key after a backoff), and a
census of what the database then holds, read with plain SQL so it does not depend on Sentinel's models."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

#: Answers a client retries with the same Idempotency-Key (409: the first try with that key is still running).
RETRIED_STATUSES = frozenset({409, 429})
FINAL_STATES = ("done", "failed", "expired")


def write_local_routes(path: Path, seconds_per_image: float, size: str = "256x256") -> Path:
    """A routing file whose only model is the offline ``local`` renderer taking ``seconds_per_image`` per image (real
    providers take seconds), so that a fault lands while generations are in flight. Point SENTINEL_ROUTES at it."""
    params = {"inject": "slow", "slow_seconds": seconds_per_image}
    routes = {
        "providers": {"local": {"kind": "local"}},
        "models": {"slow-local": {"sizes": [size], "candidates": [{"target": "local:procedural", "params": params}]}},
        "default_model": "slow-local",
    }
    path.write_text(yaml.safe_dump(routes))
    return path


@dataclass
class Submission:
    """One job the client wants created, and every answer it got on the way."""

    index: int
    body: dict[str, Any]
    key: str = field(default_factory=lambda: f"fault-{uuid.uuid4().hex}")
    #: "202", "500", "503", "409", … or the transport error's class name ("ConnectError", "ReadTimeout").
    answers: list[str] = field(default_factory=list)
    job_id: str | None = None
    #: Job ids in 2xx answers: a retry with the same key must get the same id back.
    ids_seen: set[str] = field(default_factory=set)
    gave_up: str | None = None


class JobLoad:
    """``load = JobLoad(base, bodies).start()``; ``load.accepted()`` as it goes; ``load.join()`` at the end."""

    def __init__(
        self,
        base: str,
        bodies: list[dict[str, Any]],
        threads: int = 4,
        pause_seconds: float = 0.0,
        give_up_after_seconds: float = 120.0,
        request_timeout_seconds: float = 30.0,
    ) -> None:
        self.base = base
        self.submissions = [Submission(index, body) for index, body in enumerate(bodies)]
        self.pause_seconds = pause_seconds
        self.give_up_after_seconds = give_up_after_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self._todo: queue.Queue[Submission] = queue.Queue()
        for submission in self.submissions:
            self._todo.put(submission)
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"job-client-{n}", daemon=True) for n in range(threads)
        ]

    def start(self) -> JobLoad:
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float) -> bool:
        """Wait for every submission to be accepted or given up; False if still running after ``timeout``."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def accepted(self) -> int:
        with self._lock:
            return sum(1 for s in self.submissions if s.job_id is not None)

    def _run(self) -> None:
        with httpx.Client(timeout=self.request_timeout_seconds) as client:
            while True:
                try:
                    submission = self._todo.get_nowait()
                except queue.Empty:
                    return
                self._submit(client, submission)
                if self.pause_seconds:
                    time.sleep(self.pause_seconds)  # pacing the stream, so it spans the fault

    def _submit(self, client: httpx.Client, submission: Submission) -> None:
        give_up_at = time.monotonic() + self.give_up_after_seconds
        backoff = 0.25
        while True:
            retry_after: float | None = None
            try:
                response = client.post(
                    f"{self.base}/v1/jobs", json=submission.body, headers={"Idempotency-Key": submission.key}
                )
            except httpx.TransportError as exc:
                answer = type(exc).__name__
            else:
                answer = str(response.status_code)
                if response.is_success:
                    job_id = response.json()["id"]
                    with self._lock:
                        submission.answers.append(answer)
                        submission.ids_seen.add(job_id)
                        submission.job_id = job_id
                    return
                if response.status_code < 500 and response.status_code not in RETRIED_STATUSES:
                    with self._lock:
                        submission.answers.append(answer)
                        submission.gave_up = f"HTTP {response.status_code}: {response.text[:300]}"
                    return
                if header := response.headers.get("retry-after"):
                    try:
                        retry_after = float(header)
                    except ValueError:
                        retry_after = None
            with self._lock:
                submission.answers.append(answer)
            if time.monotonic() >= give_up_at:
                with self._lock:
                    submission.gave_up = f"no success in {self.give_up_after_seconds:g} s: {submission.answers}"
                return
            # Exponential backoff with a cap, as the OpenAI SDK and most HTTP clients do.
            time.sleep(retry_after if retry_after is not None else backoff)
            backoff = min(backoff * 2, 4.0)

    # -- what the client saw ------------------------------------------------------------------------------

    def answer_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(answer for s in self.submissions for answer in s.answers)

    def server_errors(self) -> int:
        """Every 5xx answer, retries included."""
        return sum(n for answer, n in self.answer_counts().items() if answer.isdigit() and int(answer) >= 500)

    def transport_errors(self) -> int:
        return sum(n for answer, n in self.answer_counts().items() if not answer.isdigit())

    def job_ids(self) -> list[str]:
        with self._lock:
            return [s.job_id for s in self.submissions if s.job_id is not None]


@dataclass(frozen=True)
class JobRow:
    id: str
    state: str
    verdict: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass
class JobCensus:
    """What the database says about every job in it (each test has a database of its own)."""

    jobs: dict[str, JobRow]
    #: (job id, slot, number) → (state, image id) of every attempt.
    attempts: dict[tuple[str, int, int], tuple[str, str | None]]
    #: Provider calls that delivered an image, per job (request id = the job's id, or "<job id>:<slot>:<number>").
    images_paid: Counter[str]
    #: webhook_deliveries rows of jobs that the receiver took (``delivered``), per job.
    delivered_rows: Counter[str]

    @classmethod
    def read(cls, database_url: str) -> JobCensus:
        with psycopg.connect(database_url) as conn:
            jobs = {
                row[0]: JobRow(*row)
                for row in conn.execute("SELECT id, state, verdict, created_at, finished_at FROM jobs").fetchall()
            }
            attempts = {
                (job_id, slot, number): (state, image_id)
                for job_id, slot, number, state, image_id in conn.execute(
                    "SELECT job_id, slot, number, state, image_id FROM job_attempts"
                ).fetchall()
            }
            paid: Counter[str] = Counter()
            for (request_id,) in conn.execute("SELECT request_id FROM provider_calls WHERE outcome = 'ok'").fetchall():
                paid[request_id.split(":", 1)[0]] += 1
            delivered: Counter[str] = Counter(
                resource_id
                for (resource_id,) in conn.execute(
                    "SELECT resource_id FROM webhook_deliveries WHERE kind = 'job' AND delivered"
                ).fetchall()
            )
        return cls(jobs, attempts, paid, delivered)

    def unfinished(self) -> list[str]:
        return sorted(job_id for job_id, job in self.jobs.items() if job.state not in FINAL_STATES)

    def in_flight(self) -> int:
        """Unfinished jobs with an attempt being generated or judged: work a fault can interrupt."""
        busy = {job_id for (job_id, _, _), (state, _) in self.attempts.items() if state in ("generating", "judging")}
        return len(busy & set(self.unfinished()))

    def states(self) -> Counter[str]:
        return Counter(job.state for job in self.jobs.values())

    def doubled_generations(self) -> dict[str, tuple[int, int]]:
        """Jobs whose provider delivered more images than the job has attempts with an image: an attempt generated
        (and paid for) twice. job id → (images paid, attempts with an image)."""
        with_image = Counter(job_id for (job_id, _, _), (_, image) in self.attempts.items() if image is not None)
        return {
            job_id: (self.images_paid[job_id], with_image[job_id])
            for job_id in self.jobs
            if self.images_paid[job_id] > with_image[job_id]
        }

    def last_finished_at(self) -> datetime | None:
        finished = [job.finished_at for job in self.jobs.values() if job.finished_at is not None]
        return max(finished) if finished else None


def wait_for(condition: Any, seconds: float, every: float = 0.5) -> tuple[bool, float]:
    """Poll ``condition`` until truthy or ``seconds`` pass: (met?, seconds waited). Never fails by itself, so the
    caller can report what it measured."""
    started = time.monotonic()
    while True:
        if condition():
            return True, time.monotonic() - started
        if time.monotonic() - started >= seconds:
            return False, time.monotonic() - started
        time.sleep(every)


#: What each dramatiq worker process logs once its consumers run.
WORKER_READY = "Worker process is ready for action"


def wait_for_workers(workers: list[Any], seconds: float = 90.0) -> None:
    """Wait until every `sentinel worker` (a tests.conftest.RunningProcess) has a consuming process, so a load sent
    afterwards meets running workers rather than a backlog that builds while they boot."""
    ready, _ = wait_for(lambda: all(WORKER_READY in worker.output() for worker in workers), seconds, every=0.1)
    if not ready:
        logs = "\n".join(worker.output()[-2000:] for worker in workers)
        raise AssertionError(f"workers not ready in {seconds:g} s:\n{logs}")
