"""``sentinel doctor``: check a deployment's configuration and connectivity, and say what is wrong.

Each check says what it found and, when something is wrong, what to do about it. A failed check is
something that stops Sentinel (or one of its processes) from doing its work; a warning is something
that works but is worth knowing (a provider skipped for want of its key, an empty database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError
from sqlalchemy import text

from sentinel.db import bound_statements, build_engine
from sentinel.db.migrate import matching_revision, schema_state
from sentinel.errors import SentinelError
from sentinel.evaluation.panel import Panel
from sentinel.ops.health import amqp_check, redact_url
from sentinel.providers.config import load_routing
from sentinel.providers.listing import CandidateCheck, check_candidates
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import Settings
from sentinel.store.backends import configured_blob_store

T = TypeVar("T")

#: How long a connectivity check (database, Redis, blob store) may take.
TIMEOUT_SECONDS = 5.0
#: How long one request to a provider's model listing may take.
PROVIDER_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    #: Works, but worth knowing (only meaningful when ok).
    warning: bool = False

    @property
    def status(self) -> str:
        return "fail" if not self.ok else ("warn" if self.warning else "ok")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


class _TimedOut(Exception):
    pass


def _within(seconds: float, work: Callable[[], T]) -> T:
    """``work()`` in a daemon thread: a server that never answers cannot hang the doctor (or keep it alive)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name="doctor-check", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise _TimedOut(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _why(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(exc, _TimedOut):
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def run_checks(settings: Settings | None = None, *, timeout: float = TIMEOUT_SECONDS) -> list[CheckResult]:
    """Every check, in the order a person would fix them. ``settings`` None: read them from the environment."""
    if settings is None:
        try:
            settings = Settings()
        except ValidationError as exc:
            problems = "; ".join(
                f"SENTINEL_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
                for error in exc.errors()
            )
            return [CheckResult("settings", False, problems, "fix the SENTINEL_* variables named")]
    results = [_settings(settings)]
    results += _rubrics_and_judges(settings)
    results += _routes(settings)
    results += _preferred_models(settings)
    results.append(_database(settings, timeout))
    results.append(_redis(settings, timeout))
    if settings.broker_kind == "rabbitmq":
        results.append(_rabbitmq(settings, timeout))
    results.append(_blobs(settings, timeout))
    results += _secrets(settings)
    results.append(_bind(settings))
    return results


def provider_models(settings: Settings, *, timeout: float = PROVIDER_TIMEOUT_SECONDS) -> list[CandidateCheck]:
    """Every candidate of the routing file with what its provider's model listing says of it (``doctor
    --providers``, and ``serve`` with SENTINEL_CHECK_PROVIDERS). Raises SentinelError for a broken routing file."""
    routing = load_routing(settings.routes)

    async def ask() -> list[CandidateCheck]:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            return await check_candidates(routing, client)

    return asyncio.run(ask())


def _settings(settings: Settings) -> CheckResult:
    database = "PostgreSQL" if settings.database_url else "SQLite"
    broker = {"rabbitmq": "RabbitMQ broker", "redis": "Redis broker", "embedded": "in-process broker"}[
        settings.broker_kind
    ]
    return CheckResult(
        "settings",
        True,
        f"parsed: data_dir {settings.data_dir.resolve()}, {database}, {broker}, logs {settings.log_format}",
    )


def _rubrics_and_judges(settings: Settings) -> list[CheckResult]:
    results: list[CheckResult] = []
    rubrics = panel = None
    try:
        rubrics = RubricRegistry.from_dirs(settings.builtin_rubrics_dir, settings.rubrics_dir)
        extra = f" (with {settings.rubrics_dir})" if settings.rubrics_dir else ""
        results.append(CheckResult("rubrics", True, f"{len(rubrics.all())} tasks{extra}"))
    except SentinelError as exc:
        hint = "fix the file and line named; `sentinel rubrics validate DIR`"
        if settings.rubrics_dir and not Path(settings.rubrics_dir).is_dir():
            hint = "point SENTINEL_RUBRICS_DIR at an existing folder of rubric files (or unset it)"
        results.append(CheckResult("rubrics", False, exc.message, hint))
    try:
        panel = Panel.from_dirs(settings.resolved_judges_dirs)
        vision = sorted(panel.vision)
        detail = f"{len(panel.judges)} judges" + (f", vision: {', '.join(vision)}" if vision else ", all offline")
        results.append(CheckResult("judges", True, detail))
    except SentinelError as exc:
        hint = "set the variable named, or take the judge out of SENTINEL_JUDGES_DIR"
        if any(not Path(folder).is_dir() for folder in settings.resolved_judges_dirs):
            hint = "point SENTINEL_JUDGES_DIR at existing folders (`builtin` is the shipped judges)"
        elif "which is not set" not in exc.message:
            hint = "fix the file and line named; `sentinel judges list` shows the panel"
        results.append(CheckResult("judges", False, exc.message, hint))
    if panel is not None:
        for name, judge in sorted(panel.vision.items()):
            env = judge.options.api_key_env
            if env:
                results.append(CheckResult(f"vision judge {name}", True, f"key in {env}; {judge.options.model}"))
            else:
                results.append(CheckResult(f"vision judge {name}", True, f"no key needed; {judge.options.model}"))
    if rubrics is not None and panel is not None:
        gaps = [f"{r.id} needs {', '.join(panel.missing_kinds(r))}" for r in rubrics.all() if panel.missing_kinds(r)]
        if gaps:
            results.append(
                CheckResult(
                    "panel coverage",
                    True,
                    "criteria no judge of the panel can vote on: " + "; ".join(gaps),
                    "add judges of those kinds to the judges folder (SENTINEL_JUDGES_DIR): until then evaluations and "
                    "jobs of those tasks are refused (400), naming the criteria",
                    warning=True,
                )
            )
    return results


def _private_base_url(base_url: str | None, settings: Settings) -> str:
    """For a provider on a private address (a gateway inside the network), what becomes of the image URLs it may
    answer: fetched on its own host and port, refused elsewhere unless SENTINEL_FETCH_ALLOWED_NETWORKS allows them.
    Only literal addresses and localhost are judged: the doctor resolves no names."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(base_url or "").hostname or ""
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        return ""
    if address.is_global or any(address in network for network in settings.fetch_allowed_networks):
        return ""
    return (
        f"; on private address {address}: image URLs it answers on its own host and port are fetched, any on another "
        "private host only within SENTINEL_FETCH_ALLOWED_NETWORKS"
    )


def _routes(settings: Settings) -> list[CheckResult]:
    try:
        routing = load_routing(settings.routes)
    except SentinelError as exc:
        hint = "fix the routing file (SENTINEL_ROUTES) at the line named"
        if not Path(settings.routes).is_file():
            hint = "point SENTINEL_ROUTES at an existing routing file (or unset it for the built-in routes)"
        return [CheckResult("routes", False, exc.message, hint)]
    results = [
        CheckResult(
            "routes",
            True,
            f"{len(routing.models)} models, default {routing.default_model}"
            + (f" ({settings.routes})" if settings.routes else " (shipped routes.yaml)"),
        )
    ]
    unpriced = routing.unpriced()
    if unpriced:
        results.append(
            CheckResult(
                "prices",
                True,
                f"no price is set for {', '.join(unpriced)}: spend caps and cost reports count its images as $0",
                "set cost_per_image (or prices) on the candidate or its model in the routing file",
                warning=True,
            )
        )
    usable: dict[str, bool] = {}
    for name, provider in routing.providers.items():
        env = provider.api_key_env
        usable[name] = not env or bool(os.environ.get(env))
        private = _private_base_url(provider.base_url, settings)
        if not env:
            results.append(CheckResult(f"provider {name}", True, f"{provider.kind}: needs no key{private}"))
        elif usable[name]:
            results.append(CheckResult(f"provider {name}", True, f"{provider.kind}: key in {env}{private}"))
        else:
            results.append(
                CheckResult(
                    f"provider {name}",
                    True,
                    f"{provider.kind}: {env} is not set, so routes skip it",
                    f"set {env} to use {name}",
                    warning=True,
                )
            )
    wanted = {
        routing.default_model: "default model",
        **{m: f"model of task {t}" for t, m in routing.task_models.items()},
    }
    for model, role in wanted.items():
        route = routing.models.get(model)
        if route is not None and not any(usable.get(c.provider, False) for c in route.candidates):
            keys = sorted({routing.providers[c.provider].api_key_env or "" for c in route.candidates} - {""})
            results.append(
                CheckResult(
                    f"model {model}",
                    False,
                    f"{role} {model}: no candidate has its key, so every request for it fails",
                    f"set one of {', '.join(keys)}" if keys else "add a usable candidate",
                )
            )
    return results


def _preferred_models(settings: Settings) -> list[CheckResult]:
    """A rubric's ``preferred_model`` that its jobs will not get (unknown to the routing file, or with no provider
    key here): they go to the default model instead, which nothing else says."""
    try:
        routing = load_routing(settings.routes)
        rubrics = RubricRegistry.from_dirs(settings.builtin_rubrics_dir, settings.rubrics_dir)
    except SentinelError:
        return []  # the routes or rubrics check above already failed, naming the file
    results = []
    for rubric in rubrics.all():
        named = rubric.preferred_model
        if not named or rubric.id in routing.task_models:
            continue  # the routing file's task_models choose for this task (checked with the routes)
        route = routing.models.get(routing.aliases.get(named, named))
        if route is None:
            known = ", ".join(sorted([*routing.models, *routing.aliases]))
            why = f"the routing file has no model '{named}'"
            hint = f"set preferred_model of task {rubric.id} to one of {known}"
        else:
            keys = {routing.providers[c.provider].api_key_env for c in route.candidates}
            if any(not env or os.environ.get(env) for env in keys):
                continue  # a candidate can be called
            missing = sorted(env for env in keys if env)
            why = f"no provider of '{named}' has its key here ({', '.join(missing)} not set)"
            hint = f"set {' or '.join(missing)}, or expect task {rubric.id} on the default model"
        results.append(
            CheckResult(
                f"task {rubric.id}",
                True,
                f"prefers model {named}, but {why}: its jobs use the default model {routing.default_model}",
                hint,
                warning=True,
            )
        )
    return results


def _database(settings: Settings, timeout: float) -> CheckResult:
    url = settings.resolved_database_url
    where = redact_url(url)
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return _writable_dir(
                "database", path.parent, f"SQLite {path} does not exist yet; the first start creates it"
            )
    # Held to SENTINEL_DATABASE_TIMEOUT_SECONDS (and the check's own time) as the services' engine is: a stalled
    # server fails the connection or the statement in the driver, which says why, rather than leave it waiting.
    bound = min(timeout, settings.database_timeout_seconds)
    engine = build_engine(url, bound)
    bound_statements(engine, bound)
    try:

        def probe() -> Any:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                if engine.dialect.name != "postgresql":
                    return None
                state = schema_state(connection)
                differences = matching_revision(connection).differences if state.unstamped else []
                return state, differences

        answer = _within(timeout, probe)
    except Exception as exc:
        hint = "start PostgreSQL, or check host, port, user, password and database name in SENTINEL_DATABASE_URL"
        if url.startswith("sqlite"):
            hint = "check the file's permissions, or point SENTINEL_DATA_DIR somewhere writable"
        return CheckResult("database", False, f"{where}: {_why(exc)}", hint)
    finally:
        engine.dispose()
    if answer is None:
        return CheckResult("database", True, f"SQLite {where.removeprefix('sqlite:///')}: answers")
    state, differences = answer
    if state.empty:
        return CheckResult(
            "database",
            True,
            f"{where}: reachable and empty",
            "`sentinel migrate` (or the first start) creates the schema",
            warning=True,
        )
    if not state.known:
        return CheckResult(
            "database",
            True,
            f"{where}: at revision {state.current}, newer than this version knows (newest: {state.head})",
            "a newer Sentinel migrated it (a rolling upgrade?); this version runs on it without migrating",
            warning=True,
        )
    if state.unstamped:
        if not differences:
            return CheckResult(
                "database",
                True,
                f"{where}: made by create_all before migrations; the next start stamps and upgrades it",
                "or run `sentinel migrate` now",
                warning=True,
            )
        return CheckResult(
            "database",
            False,
            f"{where}: tables without migration history that match no revision: {'; '.join(differences)}",
            "back it up and fix the schema by hand, or start from an empty database",
        )
    if not state.at_head:
        return CheckResult(
            "database",
            False,
            f"{where}: at revision {state.current}, head is {state.head}",
            "run `sentinel migrate` (the Kubernetes migration Job), or restart `sentinel serve`, which upgrades first",
        )
    return CheckResult("database", True, f"{where}: at migration head {state.head}")


def _redis(settings: Settings, timeout: float) -> CheckResult:
    if not settings.redis_url and settings.broker_kind == "rabbitmq":
        return CheckResult(
            "redis",
            True,
            "not configured: rate limits and provider cool-downs are per process; long-polls re-read every second",
            "set SENTINEL_REDIS_URL too to share them between processes",
            warning=True,
        )
    if not settings.redis_url:
        return CheckResult("redis", True, "not configured: in-process broker and worker threads (one machine only)")
    where = redact_url(settings.redis_url)

    def ping() -> Any:
        import redis

        client = redis.Redis.from_url(settings.redis_url or "", socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            return client.ping()
        finally:
            client.close()

    try:
        _within(timeout + 1, ping)
    except Exception as exc:
        return CheckResult("redis", False, f"{where}: {_why(exc)}", "start Redis, or fix SENTINEL_REDIS_URL")
    return CheckResult("redis", True, f"{where}: answers PING (namespace {settings.redis_namespace})")


def _rabbitmq(settings: Settings, timeout: float) -> CheckResult:
    url = settings.resolved_broker_url or ""
    where = redact_url(url)
    try:
        _within(timeout + 1, lambda: amqp_check(url, timeout))
    except Exception as exc:
        hint = "start RabbitMQ, or fix SENTINEL_BROKER_URL (user, password and virtual host)"
        return CheckResult("rabbitmq", False, f"{where}: {_why(exc)}", hint)
    return CheckResult("rabbitmq", True, f"{where}: accepts a connection (the broker)")


def _writable_dir(name: str, directory: Path, found: str) -> CheckResult:
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    # Tried, not asked of os.access: root passes every permission test, and a filesystem such as /proc refuses
    # whoever asks. The folder tried is removed at once: doctor leaves nothing behind.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sentinel-doctor-", dir=probe))
    except OSError as exc:
        return CheckResult(
            name,
            False,
            f"{directory} cannot be created or written (a folder in {probe}: {exc.strerror or exc})",
            "fix the permissions, or point SENTINEL_DATA_DIR at a folder this user can create",
        )
    return CheckResult(name, True, found)


def _blobs(settings: Settings, timeout: float) -> CheckResult:
    if not settings.blob_url and not settings.resolved_blob_dir.exists():
        # Looked at, not made: doctor run from the wrong folder left an empty .sentinel/blobs behind.
        return _writable_dir(
            "blob store",
            settings.resolved_blob_dir,
            f"{settings.resolved_blob_dir} does not exist yet; the first start creates it",
        )
    try:
        blobs = configured_blob_store(settings)
        _within(timeout, blobs.check)
    except Exception as exc:
        where = settings.blob_url or str(settings.resolved_blob_dir)
        fix = (
            "make it writable by Sentinel's user, or point SENTINEL_BLOB_DIR elsewhere"
            if not settings.blob_url
            else "check SENTINEL_BLOB_URL, the bucket or table, and the store's credentials"
        )
        return CheckResult("blob store", False, f"{where}: {_why(exc)}", fix)
    shared = (
        " (must be one volume shared by the API and every worker)"
        if settings.broker_kind != "embedded" and blobs.kind == "filesystem"
        else ""
    )
    return CheckResult("blob store", True, f"{blobs.describe()} is writable{shared}")


def _secrets(settings: Settings) -> list[CheckResult]:
    if settings.broker_kind == "embedded":
        return [CheckResult("shared secrets", True, "single machine: webhook and session secrets are kept in data_dir")]
    results: list[CheckResult] = []
    for field, what in (("webhook_secret", "webhook signatures"), ("session_secret", "review page sessions")):
        env = f"SENTINEL_{field.upper()}"
        if getattr(settings, field):
            results.append(CheckResult(env, True, f"set ({what})"))
        else:
            results.append(
                CheckResult(
                    env,
                    False,
                    f"not set: every process reads or makes one in its data folder ({settings.data_dir}), so "
                    f"{what} fail between processes that do not share that folder (other machines, containers)",
                    f"set {env} to the same random value (16+ characters) on every API process and worker",
                )
            )
    if not settings.reviewer_keys:
        results.append(
            CheckResult(
                "SENTINEL_REVIEWER_KEYS",
                True,
                "not set: each API process keeps its own reviewer key file in data_dir",
                "set SENTINEL_REVIEWER_KEYS when several API processes serve the review pages",
                warning=True,
            )
        )
    return results


def _bind(settings: Settings) -> CheckResult:
    everywhere = settings.host in ("0.0.0.0", "::")
    where = "every interface" if everywhere else settings.host
    # The settings, not a running server: `--host` and `--port` on the command line override them.
    listens = f"`sentinel serve` without --host/--port listens on {where}, port {settings.port}"
    if settings.public_url:
        return CheckResult("bind", True, f"{listens}; image URLs are built on {settings.public_url}")
    if settings.host in ("127.0.0.1", "localhost", "::1"):
        return CheckResult("bind", True, listens)
    return CheckResult(
        "bind",
        True,
        f"{listens}; the gateway's image URLs are built on each request's scheme and Host header (behind a TLS "
        "proxy they read http://, and a client may forge the Host)",
        "set SENTINEL_PUBLIC_URL to the address clients use, e.g. https://sentinel.example.com",
        warning=True,
    )
