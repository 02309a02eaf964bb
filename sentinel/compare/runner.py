"""Running a suite: every (prompt, model, repeat or seed) as an ordinary job through the API (POST /v1/jobs,
long-polled to its verdict, as ``sentinel bench`` runs its jobs), against a server or this installation served
in-process, and what the report needs of each: verdicts, attempts, who served them, failing criteria, cost, latency
and a thumbnail."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from sentinel.bench.harness import api_message, ms_between, run_job
from sentinel.compare.suite import PromptEntry, Run, Suite
from sentinel.reports.html import thumbnail_data_uri

#: Longest side of a thumbnail in the HTML matrix: enough to see a defect, small enough for hundreds of cells.
THUMBNAIL_SIDE = 192


class SuiteProblem(Exception):
    """The suite cannot run as written on this server: ``loc`` is where in the file (``["models", 2]``)."""

    def __init__(self, loc: list[int | str], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass
class Outcome:
    """One job of the suite and what it came to; ``error`` when it could not be run at all."""

    run: Run
    job: dict[str, Any] | None = None
    error: str | None = None
    failing: list[str] = field(default_factory=list)
    thumbnail: str | None = None
    cost_usd: float = 0.0
    latency_ms: float | None = None

    @property
    def verdict(self) -> str | None:
        return self.job["verdict"] if self.job else None

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return (self.job or {}).get("attempts") or []

    @property
    def first_verdict(self) -> str | None:
        return self.attempts[0]["verdict"] if self.attempts else None

    @property
    def served_by(self) -> list[str]:
        return list(dict.fromkeys(f"{a['provider']}:{a['model']}" for a in self.attempts if a.get("provider")))

    @property
    def chosen(self) -> dict[str, Any] | None:
        images = ((self.job or {}).get("result") or {}).get("images") or []
        return images[0] if images else None


def unservable(catalog: list[dict[str, Any]], models: list[str]) -> dict[str, str]:
    """The suite's models (public names or pinned ``provider:model``) none of whose candidates can be called on this
    server, each with why: a job of theirs could only record the same failure on every attempt, so none is sent."""
    entries = {entry["id"]: entry for entry in catalog if not entry.get("parked")}
    details: dict[str, dict[str, Any]] = {}
    for entry in catalog:
        for candidate in entry.get("candidate_details") or []:
            details.setdefault(candidate["target"], candidate)
    found: dict[str, str] = {}
    for model in models:
        if model in entries:
            candidates = entries[model].get("candidate_details") or []
        else:
            candidates = [details[model]] if model in details else []
        if not candidates or any(c.get("configured", True) for c in candidates):
            continue
        reasons = list(dict.fromkeys(_why_not_configured(c) for c in candidates))
        found[model] = f"not run: no candidate of {model} can be called on this server ({'; '.join(reasons)})"
    return found


def _why_not_configured(candidate: dict[str, Any]) -> str:
    # The catalog's own words where it gives them ("OPENAI_API_KEY is not set"); an older server only says it is not.
    reason = candidate.get("unconfigured_reason") or "its provider is not configured here"
    return f"{candidate['target']}: {reason}"


class Prices:
    """USD per image of each candidate, as the model catalog (GET /v1/models) states them: the same estimate the
    spend ledger books for a delivered image."""

    def __init__(self, catalog: list[dict[str, Any]]) -> None:
        self._prices: dict[str, list[dict[str, Any]]] = {}
        for entry in catalog:
            for candidate in entry.get("candidate_details") or []:
                self._prices.setdefault(candidate["target"], candidate.get("prices") or [])

    def of(self, target: str, size: str | None) -> float:
        prices = self._prices.get(target) or []
        sized = [p for p in prices if p["size"] == size] or prices
        standard = [p for p in sized if p["quality"] in (None, "standard")] or sized
        return float(standard[0]["usd_per_image"]) if standard else 0.0


class KeyRefused(RuntimeError):
    """The API answered 401 or 403: the command needs another key (a wrong command, not failed work)."""


@dataclass(frozen=True)
class Checked:
    """What the server's catalog says of a suite before it runs: the prices, and the models it cannot serve at all
    (model → why), whose jobs are not sent."""

    prices: Prices
    unservable: dict[str, str]


class Sentinel:
    """The few calls a suite makes, over HTTP (a server, or this installation served in-process)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def catalog(self) -> list[dict[str, Any]]:
        response = self.client.get("/v1/models")
        if response.status_code != 200:
            raise RuntimeError(f"GET /v1/models answered {response.status_code}: {api_message(response)}")
        return list(response.json()["data"])

    def check(self, suite: Suite) -> Checked:
        """What would fail every job of a column, found before any is paid for: an unknown task or model (refused),
        or a model none of whose candidates can be called here (its jobs are not sent)."""
        task = self.client.get(f"/v1/rubrics/{suite.task}")
        if task.status_code == 404:
            raise SuiteProblem(["task"], f"no such task on this server: {api_message(task)}")
        if task.status_code in (401, 403):
            # The command's user sent no header: say what to give the command, with the server's own words.
            raise KeyRefused(
                f"the API refused the key ({task.status_code}): pass --api-key KEY or set SENTINEL_API_KEY, a key "
                f"with the generate and evaluate scopes (`sentinel keys create`); it said: {api_message(task)}"
            )
        if task.status_code != 200:
            raise RuntimeError(f"GET /v1/rubrics/{suite.task} answered {task.status_code}: {api_message(task)}")
        _check_params(suite, task.json())
        catalog = self.catalog()
        names = {entry["id"] for entry in catalog if not entry.get("parked")}
        targets = {c["target"] for entry in catalog for c in entry.get("candidate_details") or []}
        for index, model in enumerate(suite.models):
            if model in names or model in targets:
                continue
            kind = "candidate (provider:model)" if ":" in model else "model"
            raise SuiteProblem(
                ["models", index],
                f"'{model}' is no {kind} of this server's routing; models: {', '.join(sorted(names))}; "
                f"candidates: {', '.join(sorted(targets))}",
            )
        return Checked(Prices(catalog), unservable(catalog, suite.models))

    def run(self, suite: Suite, run: Run, prices: Prices) -> Outcome:
        body: dict[str, Any] = {
            "task": suite.task,
            "prompt": run.case.prompt,
            "params": run.case.params,
            "model": run.model,
            "max_attempts": suite.max_attempts,
        }
        if run.seed is not None:
            body["seed"] = run.seed
        outcome = Outcome(run)
        try:
            job = run_job(self.client, body)
        except (RuntimeError, httpx.HTTPError, ValueError, KeyError) as exc:  # refused, unreachable, not the API
            outcome.error = str(exc) or type(exc).__name__
            return outcome
        outcome.job = job
        if job.get("finished_at"):
            outcome.latency_ms = ms_between(job["created_at"], job["finished_at"])
        width, height = run.case.params.get("width"), run.case.params.get("height")
        size = f"{width}x{height}" if width and height else None
        outcome.cost_usd = sum(
            prices.of(f"{a['provider']}:{a['model']}", size) for a in outcome.attempts if a.get("image")
        )
        chosen = outcome.chosen
        attempt = next((a for a in outcome.attempts if chosen and a["number"] == chosen.get("attempt")), None)
        try:
            if attempt and attempt.get("evaluation_id"):
                outcome.failing = self._failing(attempt["evaluation_id"])
            if chosen and chosen.get("image"):
                outcome.thumbnail = self._thumbnail(chosen["image"]["url"])
        except (RuntimeError, httpx.HTTPError, ValueError, KeyError) as exc:
            outcome.error = f"job {job['id']} finished, but its details could not be read: {exc}"
        return outcome

    def _failing(self, evaluation_id: str) -> list[str]:
        """The failed criteria of an evaluation, as ``criterion (severity)``."""
        response = self.client.get(f"/v1/evaluations/{evaluation_id}")
        if response.status_code != 200:
            raise RuntimeError(f"GET /v1/evaluations/{evaluation_id}: {api_message(response)}")
        failing = []
        for judge in response.json().get("judges") or []:
            for criterion in judge.get("criteria") or []:
                if criterion.get("passed") is False:
                    severity = criterion.get("severity")
                    failing.append(criterion["id"] + (f" ({severity})" if severity else ""))
        return failing

    def _thumbnail(self, url: str) -> str | None:
        """The image as a small data URI (None if it cannot be read): the HTML report carries its images."""
        response = self.client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        return thumbnail_data_uri(response.content, THUMBNAIL_SIDE)


def _check_params(suite: Suite, rubric_view: Any) -> None:
    """Each prompt's params (the suite's under its own) as POST /v1/jobs would take them for the task: a missing,
    unknown or out-of-range param would have every job of the prompt refused, so it is the suite's mistake."""
    from sentinel.errors import SentinelError
    from sentinel.evaluation.rubric import params_for, specs_of_view

    specs = specs_of_view(rubric_view)
    if specs is None:
        return
    for case, entry in zip(suite.cases(), suite.prompts, strict=True):
        try:
            params_for(suite.task, specs, case.params)
        except SentinelError as exc:
            name = (exc.field or "").removeprefix("params.")
            if name and name not in case.params:
                raise _missing_param(suite, case.index, entry, name, exc.message) from None
            own = name in entry.params or (name not in suite.params and bool(entry.params))
            loc: list[str | int] = ["prompts", case.index, "params"] if own else ["params"]
            if name and (name in entry.params or name in suite.params):
                loc.append(name)
            raise SuiteProblem(loc, exc.message) from None


def _missing_param(suite: Suite, index: int, entry: PromptEntry, name: str, message: str) -> SuiteProblem:
    """A param the task needs that neither the suite nor the prompt gives: named where it can be added (the
    prompt's params, the suite's, or the prompt itself when neither has any), saying how."""
    if entry.params:
        loc: list[str | int] = ["prompts", index, "params"]
        add = f"add {name}: … to this prompt's params, or to the suite's params for every prompt"
    elif suite.params:
        loc = ["params"]
        add = f"add {name}: … to the suite's params (every prompt), or to a prompt's own params"
    else:
        loc = ["prompts", index]
        add = (
            f"add params: {{{name}: …}} to the suite (every prompt), or write this prompt as "
            f"{{prompt: …, params: {{{name}: …}}}}"
        )
    return SuiteProblem(loc, f"{message}: {add}")


def run_suite(
    sentinel: Sentinel, suite: Suite, concurrency: int, done: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    """Every run of the suite, ``concurrency`` jobs in flight; ``done`` is told of each as it finishes. The order of
    the answer is the suite's (prompts, then repeats or seeds, then models)."""
    checked = sentinel.check(suite)
    runs = suite.runs()
    outcomes: list[Outcome | None] = [None] * len(runs)
    for index, run in enumerate(runs):
        if run.model in checked.unservable:
            outcomes[index] = Outcome(run, error=checked.unservable[run.model])
            if done is not None:
                done(outcomes[index])
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="sentinel-compare")
    try:
        futures = {
            pool.submit(sentinel.run, suite, run, checked.prices): index
            for index, run in enumerate(runs)
            if outcomes[index] is None
        }
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[futures[future]] = outcome
            if done is not None:
                done(outcome)
    finally:
        # Ctrl-C: the jobs not yet sent are not sent; those in flight stay recorded on the server and finish there.
        pool.shutdown(wait=False, cancel_futures=True)
    return [o for o in outcomes if o is not None]


@contextmanager
def in_process(startup_seconds: float = 60) -> Iterator[str]:
    """This installation's API (its settings, database, routes and embedded workers, as ``sentinel serve`` has them)
    served from a thread of this process on a loopback port of its own; yields its base URL. The jobs are ordinary
    jobs of that database, so their verdicts count where recorded verdicts count (quality-aware routing)."""
    # Imported here: the app brings FastAPI, SQLAlchemy and the judges, which --check and --server never need.
    import uvicorn

    from sentinel.api.app import create_app
    from sentinel.workflow.runtime import close_generation

    # The app's start-up notes (an open server on loopback, the embedded broker) are for `sentinel serve`'s log;
    # here they would only break the progress bar. Errors still show.
    logging.getLogger("sentinel").setLevel(logging.ERROR)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(), log_level="error", log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sentinel-compare-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_seconds
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the API did not start (its error is above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start within {startup_seconds:g} s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        # The provider connections the embedded workers opened: left open, aiohttp complains as the command exits.
        close_generation()
