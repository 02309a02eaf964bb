"""Settings from ``SENTINEL_*`` environment variables, with embedded defaults.

With nothing set, Sentinel runs on one machine: SQLite and a filesystem blob
store under ``SENTINEL_DATA_DIR``, dramatiq's in-process broker with worker
threads started by ``sentinel serve``. ``SENTINEL_REDIS_URL`` switches the broker
to Redis (``SENTINEL_BROKER_URL=amqp://…`` to RabbitMQ) and ``SENTINEL_DATABASE_URL``
the store to PostgreSQL.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: URL schemes of a RabbitMQ broker (pika's), and of a Redis one (redis-py's).
AMQP_SCHEMES = ("amqp", "amqps")
REDIS_SCHEMES = ("redis", "rediss")
#: Where Sentinel stores its rows: SQLite, or PostgreSQL through psycopg (``postgres://`` is read as postgresql://).
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
#: Built-in rubrics and judges: the checkout's folders, or the copies packed into a wheel.
_CHECKOUT = Path(__file__).resolve().parent.parent
DATA_ROOT = _CHECKOUT if (_CHECKOUT / "rubrics").is_dir() else Path(__file__).resolve().parent / "_data"


#: The longest retention (and `storage gc` grace) Sentinel takes: a century, in days.
MAX_RETENTION_DAYS = 36500
#: dramatiq's worker timeout in Sentinel's workers: how soon a worker thread, or a consumer of a stopping worker,
#: notices that it must stop. An idle Redis consumer waits for its queue's doorbell instead (worker_idle_poll_ms).
WORKER_TIMEOUT_MS = 100
#: Evaluations per second the judges are assumed to clear at least when SENTINEL_MAX_JUDGING_BACKLOG is unset: the
#: embedded default's offline panel on two cores shared with the API and other work (~0.2 s of CPU per 768² JPEG;
#: 460 judged in 300 s at a load average of 12). 450 for the 300 s deadline: a burst of 400 is taken and judged in
#: time; the 1600 of the outside probe (F6), of which 653 ended unjudged, are not.
JUDGED_PER_SECOND_FLOOR = 1.5


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTINEL_", extra="ignore")

    data_dir: Path = Field(default=Path(".sentinel"), description="SQLite file and blobs live here")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in data_dir if unset")
    #: PostgreSQL: how long a new connection, a wait for a pooled one, and each round trip of a statement may take
    #: before the work fails as "database unavailable" (the API answers 503 with Retry-After). Migrations are not
    #: bounded by it. A server that stops answering would otherwise hold a request as long as it stalls.
    database_timeout_seconds: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    redis_url: str | None = Field(default=None, description="Redis broker URL; in-process broker if unset")
    #: The dramatiq broker: ``amqp://`` / ``amqps://`` (RabbitMQ: durable queues, acknowledgements) or ``redis://``;
    #: unset, SENTINEL_REDIS_URL's Redis, or the in-process broker. Redis (rate limits, wake-ups) stays redis_url.
    broker_url: str | None = Field(default=None, description="broker URL; redis_url, or in-process, if unset")
    redis_namespace: str = Field(default="sentinel", description="prefix of every Redis key")
    #: After this long without a heartbeat, a worker's unacknowledged messages go back to the queue.
    redis_heartbeat_timeout_ms: int = Field(default=15_000, ge=1_000)
    #: Broker commands per million that also requeue dead workers' messages (dramatiq's maintenance).
    redis_maintenance_chance: int = Field(default=10_000, ge=1, le=1_000_000)
    #: How long a worker holds a job attempt's generation; renewed every third of it while the worker lives, so a
    #: dead worker's attempt is resumed this long after it died.
    generation_lease_seconds: float = Field(default=15.0, ge=3, le=600)
    #: Signs webhook bodies (HMAC-SHA256); unset, a random secret is kept in data_dir/webhook-secret.
    #: Set it explicitly when API processes and workers run on several machines.
    webhook_secret: str | None = Field(default=None, min_length=16)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_retries: int = Field(default=8, ge=0, le=20)
    #: Threads of their own for webhook deliveries in every worker process (and in `sentinel serve`'s embedded
    #: workers), beside the worker threads that judge and generate: a slow or silent receiver holds one of these for
    #: up to webhook_timeout_seconds per try, never a judging thread. Deliveries past this many at once wait in the
    #: webhooks queue. Size it for the slow receivers you expect at once: ~ deliveries per second per process x
    #: webhook_timeout_seconds for receivers that always time out (the default rides out 8 at once per process).
    webhook_threads: int = Field(default=8, ge=1, le=64)
    #: First retry delay; each retry doubles it (dramatiq's backoff), up to 10 minutes.
    webhook_min_backoff_ms: int = Field(default=2_000, ge=10)
    #: The whole request body must arrive this long after the app first reads it (408 otherwise): slow-loris uploads.
    body_read_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    #: A request's headers must be complete this long after its connection opened (or after its first byte, on a
    #: kept-alive connection); otherwise 408 and the connection is closed: connections held open by sending nothing.
    header_read_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    #: A kept-alive connection idle this long between requests is closed. Longer than the idle timeouts of the usual
    #: proxies and load balancers (60 s), which must close first: a server closing first races the proxy's next
    #: request on that connection (a 502), as uvicorn's 5 s did under bursts even without a proxy.
    keep_alive_seconds: float = Field(default=75.0, gt=0, le=3600)
    #: An unfinished evaluation with no vote for this long gets its missing judge messages re-sent by the sweep.
    evaluation_stalled_seconds: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    #: How often the cluster sweeps: deadlines of jobs and evaluations, and work a dead worker left behind.
    sweep_interval_seconds: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    blob_dir: Path | None = Field(default=None, description="filesystem blob store; data_dir/blobs if unset")
    #: Where image bytes live: unset or ``file:///path`` (a folder), ``s3://bucket/prefix`` (an S3-compatible
    #: object store), or ``postgresql://…`` / ``database`` (a table in PostgreSQL; ``database`` is database_url).
    blob_url: str | None = Field(default=None, description="blob store URL; the blob_dir folder if unset")
    #: During ``sentinel storage migrate``: reads that miss in blob_url try this store, so nothing breaks mid-move.
    blob_fallback_url: str | None = None
    #: The object store's endpoint (MinIO, R2, GCS interoperability, moto); AWS's own if unset.
    s3_endpoint_url: str | None = None
    #: Presigned URLs are made for this endpoint when clients reach the store by another address than Sentinel.
    s3_public_endpoint_url: str | None = None
    s3_region: str | None = None
    #: Explicit credentials; unset, the standard AWS variables, profiles and instance roles apply.
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = Field(default=None, repr=False)
    #: ``bucket`` in the path rather than the host name: needed by MinIO and most self-hosted stores.
    s3_path_style: bool = False
    #: ``sentinel``: clients fetch images from /v1/images/{id}. ``presigned``: from the object store directly,
    #: with URLs signed afresh on every read of a job, evaluation or page.
    image_urls: Literal["sentinel", "presigned"] = "sentinel"
    #: The address clients reach Sentinel by when a proxy or an ingress stands in front (``https://sentinel.example``):
    #: the absolute image URLs the gateway answers are built on it. Unset, on each request's own scheme and Host
    #: header, which behind a TLS proxy read ``http://``, and which a client may forge.
    public_url: str | None = Field(default=None, description="public base URL for absolute image URLs")
    presign_ttl_seconds: int = Field(default=1800, ge=60, le=7 * 24 * 3600)
    #: Images of finished jobs (and of gateway calls) older than this may be deleted by ``sentinel storage gc``;
    #: unset, they are kept.
    #: At most a century: a longer one puts `storage gc`'s cut-off before the year 1 (an overflow, not a deletion).
    image_retention_days: float | None = Field(default=None, gt=0, le=MAX_RETENTION_DAYS)

    rubrics_dir: Path | None = Field(default=None, description="extra rubric YAML files (override built-ins by id)")
    #: The panel: folders of judge YAML files, separated by ':'; `builtin` stands for the shipped offline judges,
    #: e.g. `builtin:/etc/sentinel/vision-judges`. The shipped judges only, if unset.
    judges_dir: str | None = Field(default=None, description="panel folders; built-in judges/ if unset")

    routes: Path | None = Field(default=None, description="routing YAML; the shipped default if unset")
    #: At start, `sentinel serve` asks each configured provider's model listing whether every candidate of the routing
    #: file exists (as `sentinel doctor --providers` does), and refuses to start when one is missing.
    check_providers: bool = False
    #: Routes with ``order: quality`` rank a task's candidates by the green share of each one's last this many judged
    #: images for the task (sentinel/providers/quality.py) ...
    quality_window: int = Field(default=200, ge=1, le=10_000)
    #: ... in jobs created within this many days.
    quality_window_days: float = Field(default=7.0, gt=0, le=365)
    #: A candidate with fewer judged images for the task keeps its configured position.
    quality_min_sample: int = Field(default=20, ge=1, le=10_000)
    #: The share of a task's requests that try another candidate first (the others in turn), so a candidate that
    #: improved, or has too few verdicts, is judged again.
    quality_explore: float = Field(default=0.1, ge=0, le=0.5)
    #: How often a process reads the shares again (0: before every request with a task, which tests use).
    quality_refresh_seconds: float = Field(default=5.0, ge=0, le=3600)

    max_image_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    #: Well below Pillow's own ~89 MP warning so a bomb is refused before decoding.
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    #: Images larger than this are judged on a box-averaged copy of at most this many pixels; pixel-level measures
    #: (noise, JPEG blocking, seams) still read full-resolution samples, and sizes are the delivered ones.
    analysis_max_pixels: int = Field(default=6_000_000, ge=1_000_000)
    #: Bytes of decoded pixels a process keeps so the judges of one evaluation decode its images once (least
    #: recently used go first; one image larger than half of it is not kept).
    decoded_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    #: Bytes the image decodes of a process may hold at once; a decode waits for room (see decode_wait_seconds).
    decode_memory_bytes: int = Field(default=256 * 1024 * 1024, ge=16 * 1024 * 1024)
    #: How long a decode waits for room in decode_memory_bytes before its judge abstains as busy.
    decode_wait_seconds: float = Field(default=60.0, gt=0, le=3600)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    fetch_max_redirects: int = Field(default=3, ge=0, le=10)
    #: Networks a URL may resolve into despite being private (e.g. an internal CDN).
    fetch_allowed_networks: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list
    )

    evaluation_deadline_seconds: float = Field(default=300.0, gt=0, le=3600)
    #: Judge messages the judging queue may hold (not yet taken by a worker) before new evaluations and jobs are
    #: refused with a 503 and /readyz fails: past it, the last one queued would not be judged before its deadline and
    #: would end amber with no vote. Unset: JUDGED_PER_SECOND_FLOOR per second of the deadline (450 for 300 s).
    max_judging_backlog: int | None = Field(default=None, ge=1, le=10_000_000)
    #: Share of the judges taking part that must vote for a verdict to be green.
    quorum: float = Field(default=1.0, gt=0, le=1)
    worker_threads: int = Field(default=4, ge=1, le=64)
    #: Vision-judge calls a process keeps in flight at once; waiting for a model holds no worker thread, and a call
    #: waiting holds no copy of its request (an evaluation's judges share one encoding of its image). 600 is 200
    #: evaluations x 3 judges in one model latency: one worker process peaked at 340-430 MiB with 1024² JPEGs
    #: (`sentinel bench vision --no-scan`); memory grows with the images in flight.
    vision_max_in_flight: int = Field(default=600, ge=1, le=4096)
    #: Before a vision judge's pass is believed, the OCR reads the image for text addressed to the judges (once per
    #: image and process, beside the calls). Off: passes are believed whatever the image says; only for images whose
    #: text you control. It is most of a vision-only panel's CPU per image (`sentinel bench vision --no-scan`).
    vision_instruction_scan: bool = True
    #: Redis broker: an idle worker's consumer waits for a message to be sent (every send wakes one at once) and
    #: asks Redis again after at most this long anyway, in case a wake-up was lost (a Redis restart); capped at a
    #: third of redis_heartbeat_timeout_ms, since these polls are also the idle worker's heartbeat.
    worker_idle_poll_ms: int = Field(default=5_000, ge=10, le=60_000)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: `json`: one JSON object per log line (time, level, logger, message, request_id, extras), for log shippers.
    log_format: Literal["text", "json"] = "text"
    #: On SIGTERM, how long in-flight HTTP requests, then the embedded worker's messages, may take to finish.
    shutdown_grace_seconds: int = Field(default=25, ge=0, le=600)
    #: Each /readyz check (database, broker, blob store) answers within this or counts as failing.
    readiness_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    #: /readyz reports the folder blob store failing under this much free space (MiB), before writes fail for it.
    blob_min_free_mb: float = Field(default=64.0, ge=0)
    #: `sentinel worker` serves its processes' Prometheus metrics on this port (none if unset).
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    #: Require an API key on every /v1 call even on a loopback address with no keys yet (always required on
    #: any other bind address, and as soon as one key exists).
    require_api_keys: bool = False
    #: How long an API process trusts what it read about a key (a revocation or a first key takes this long).
    api_key_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    #: Requests per minute for a key created without --rpm; 0: no limit (nothing is counted).
    default_key_rpm: int = Field(default=600, ge=0)
    #: Requests per minute per client address without a key (pages, and /v1 while the server runs open); 0: no
    #: limit (nothing is counted).
    anonymous_rpm: int = Field(default=1200, ge=0)
    #: Login attempts per minute per client address on the review pages.
    login_attempts_per_minute: int = Field(default=10, ge=1)

    #: Who may log in to the review pages: comma-separated ``name:key`` pairs (keys of 16+ characters).
    #: Unset, one reviewer ``admin`` gets a random key kept in data_dir/reviewer-keys (one ``name:key`` a line).
    reviewer_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    #: Signs the review pages' session cookies and the image URLs Sentinel hands out; unset, a random secret is
    #: kept in data_dir/session-secret. Set it explicitly when API processes and workers run on several machines.
    session_secret: str | None = Field(default=None, min_length=16)
    session_max_age_seconds: int = Field(default=12 * 3600, ge=60)
    #: How long opening a review item holds it for the reviewer (others are shown the next one); each action on
    #: it extends the claim.
    review_claim_seconds: int = Field(default=300, ge=10, le=24 * 3600)

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # RabbitMQ nodes of a cluster may be listed as several URLs separated by ';' (pika tries them in turn).
        urls = value.split(";") if url_scheme(value) in AMQP_SCHEMES else [value]
        for url in urls:
            _url_scheme_checked(url, (*AMQP_SCHEMES, *REDIS_SCHEMES))
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value != value.strip():
            raise ValueError("starts or ends with a space")
        if url_scheme(value) == "postgres":
            # The spelling hosting platforms hand out; SQLAlchemy knows only postgresql://.
            return "postgresql://" + value.partition("://")[2]
        _url_scheme_checked(value, DATABASE_SCHEMES, hostless=("sqlite",))
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value != value.strip():
            raise ValueError("starts or ends with a space")
        if _url_scheme_checked(value, (*REDIS_SCHEMES, "unix"), hostless=("unix",)) != "unix":
            database = value.partition("://")[2].partition("/")[2].split("?", 1)[0]
            if database and not database.isdigit():
                raise ValueError(f"names the database '{database}', which is not a number")
        return value

    @model_validator(mode="after")
    def _redis_broker_is_redis(self) -> Settings:
        # SENTINEL_BROKER_URL=redis://… alone means what SENTINEL_REDIS_URL means: rate limits, provider cool-downs
        # and wake-ups share that Redis too, as every process must.
        if self.redis_url is None and self.broker_url and url_scheme(self.broker_url) in REDIS_SCHEMES:
            self.redis_url = self.broker_url
        return self

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme, _, rest = value.partition("://")
        if scheme not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ValueError("is not an http:// or https:// URL with a host")
        if "?" in value or "#" in value:
            raise ValueError("has a query or a fragment")
        return value.rstrip("/")

    @field_validator("fetch_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reviewer_keys", mode="before")
    @classmethod
    def _parse_reviewer_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_reviewer_keys(value.replace(",", "\n"), "SENTINEL_REVIEWER_KEYS")
        return value

    @property
    def judging_backlog_limit(self) -> int:
        """:attr:`max_judging_backlog`, or the default it has for :attr:`evaluation_deadline_seconds`."""
        if self.max_judging_backlog is not None:
            return self.max_judging_backlog
        return max(1, round(self.evaluation_deadline_seconds * JUDGED_PER_SECOND_FLOOR))

    @property
    def resolved_broker_url(self) -> str | None:
        """Where dramatiq's messages go; None for the in-process broker."""
        return self.broker_url or self.redis_url

    @property
    def broker_kind(self) -> Literal["rabbitmq", "redis", "embedded"]:
        url = self.resolved_broker_url
        if url is None:
            return "embedded"
        return "rabbitmq" if url_scheme(url) in AMQP_SCHEMES else "redis"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sentinel.db').resolve()}"

    @property
    def resolved_blob_dir(self) -> Path:
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    @property
    def builtin_rubrics_dir(self) -> Path:
        return DATA_ROOT / "rubrics"

    @property
    def resolved_judges_dirs(self) -> list[Path]:
        builtin = DATA_ROOT / "judges"
        if not self.judges_dir:
            return [builtin]
        parts = [part.strip() for part in self.judges_dir.split(os.pathsep) if part.strip()]
        return [builtin if part == "builtin" else Path(part) for part in parts]


#: Reviewer names end up on every decision (``review_decisions.reviewer``), so they fit that column.
MAX_REVIEWER_NAME = 200
#: Shorter reviewer keys are guessable by the login form, rate limits or not.
MIN_REVIEWER_KEY = 16


def read_reviewer_keys(entries: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """``name:key`` entries, each with where it came from, → the good ones, and ``where: reason`` for each bad one.

    A bad entry is left out, never half-used; the reasons never quote a key."""
    keys: dict[str, str] = {}
    seen_at: dict[str, str] = {}
    owner_of: dict[str, str] = {}
    problems: list[str] = []
    for where, raw in entries:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, key = (part.strip() for part in line.partition(":"))
        if not sep:
            problem = "expected 'name:key', found no ':'"
        elif not name:
            problem = "the reviewer name before ':' is empty"
        elif len(name) > MAX_REVIEWER_NAME:
            problem = f"the reviewer name is {len(name)} characters; at most {MAX_REVIEWER_NAME}"
        elif len(key) < MIN_REVIEWER_KEY:
            problem = f"the key of '{name}' is {len(key)} characters; reviewer keys need {MIN_REVIEWER_KEY} or more"
        elif name in seen_at:
            problem = f"'{name}' already has a key ({seen_at[name]}); one key per reviewer"
        elif key in owner_of:
            # One key for two names would make whoever logs in with it both people.
            problem = f"the key of '{name}' is also the key of '{owner_of[key]}'; each reviewer needs their own"
        else:
            keys[name], seen_at[name], owner_of[key] = key, where, name
            continue
        problems.append(f"{where}: {problem}")
    return keys, problems


def parse_reviewer_keys(text: str, origin: str) -> dict[str, str]:
    """``name:key`` pairs, one per line; the first malformed pair is refused, naming where it came from."""
    keys, problems = read_reviewer_keys(
        (f"{origin}: entry {number}", line) for number, line in enumerate(text.splitlines(), start=1)
    )
    if problems:
        raise ValueError(problems[0])
    return keys


#: Settings whose values an error message must not echo (a URL may carry a password).
_SECRET = re.compile(r"secret|_url$|^reviewer_keys$|access_key")
#: Rules that no Field constraint spells out.
_RULES = {
    "fetch_allowed_networks": "comma-separated networks such as `10.1.0.0/16`",
    "reviewer_keys": "comma-separated `name:key` pairs, keys of 16 or more characters",
    "broker_url": "an `amqp://`, `amqps://` (RabbitMQ) or `redis://`, `rediss://` URL with a host",
    "database_url": "a `postgresql://` (or `postgres://`) URL with a host, or a `sqlite:///` path",
    "redis_url": "a `redis://`, `rediss://` URL with a host (and a database number, if any) or a `unix://` socket path",
    "public_url": "an `https://` (or `http://`) URL with a host and no query, such as `https://sentinel.example.com`",
    "default_key_rpm": "at least 1, or 0 for no limit",
    "anonymous_rpm": "at least 1, or 0 for no limit",
}


def _url_scheme_checked(url: str, schemes: tuple[str, ...], hostless: tuple[str, ...] = ()) -> str:
    """``url``'s scheme, refused (ValueError) when it is none of ``schemes`` or, but for ``hostless`` schemes, the URL
    names no host. Only the scheme is ever shown: the rest of the URL may hold a password."""
    scheme = url_scheme(url)
    if scheme not in schemes:
        raise ValueError(f"has the scheme '{scheme}://'" if scheme else "has no scheme")
    if scheme not in hostless and not url.partition("://")[2].split("/", 1)[0].rpartition("@")[2]:
        raise ValueError("names no host")
    return scheme


def url_scheme(url: str) -> str:
    """``amqp`` of ``amqp://…``; empty when the URL has none."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def env_name(field: str) -> str:
    return f"SENTINEL_{field.upper()}"


def rule_of(field: str) -> str | None:
    """The rule a setting's value must follow, in words (README's table and the error message say the same)."""
    info = Settings.model_fields[field]
    if field in _RULES:
        return _RULES[field]
    if info.annotation is bool:
        return "`true` or `false`"
    if get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in get_args(info.annotation))
    parts: list[str] = []
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge):
            parts.append(f"at least {bound.ge}")
        elif isinstance(bound, annotated_types.Gt):
            parts.append(f"more than {bound.gt}")
        elif isinstance(bound, annotated_types.Le):
            parts.append(f"at most {bound.le}")
        elif isinstance(bound, annotated_types.Lt):
            parts.append(f"less than {bound.lt}")
        elif isinstance(bound, annotated_types.MinLen):
            parts.append(f"at least {bound.min_length} characters")
        elif isinstance(bound, annotated_types.MaxLen):
            parts.append(f"at most {bound.max_length} characters")
    return " and ".join(parts) or None


def _problem(error: Any, field: str) -> str:
    """What is wrong with the value, without echoing a secret."""
    value = error.get("input")
    secret = _SECRET.search(field) is not None
    kind = error["type"]
    if kind in ("string_too_short", "string_too_long"):
        return f"is {len(value)} characters long, too {'short' if kind == 'string_too_short' else 'long'}"
    shown = "the value given" if secret else (str(value) if _is_number(value) else repr(value))
    if kind in ("greater_than", "greater_than_equal"):
        return f"is {shown}, too small"
    if kind in ("less_than", "less_than_equal"):
        return f"is {shown}, too large"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix(f"{env_name(field)}: ")
    if kind == "value_error":
        return message
    return f"is {shown}: {message[:1].lower()}{message[1:]}"


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def settings_problem(exc: ValidationError) -> str:
    """One line per bad ``SENTINEL_*`` variable: its name, what is wrong with its value, and the rule."""
    lines: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        if field not in Settings.model_fields or field in lines:
            continue
        rule = rule_of(field)
        lines[field] = f"{env_name(field)} {_problem(error, field)}" + (f"; it must be {rule}" if rule else "")
    return "\n".join(lines.values()) or str(exc).splitlines()[0]


@lru_cache
def get_settings() -> Settings:
    return Settings()
