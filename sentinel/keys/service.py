"""Creating, listing, revoking and checking API keys. Secrets are random (256 bits) and stored as SHA-256
hashes: a database leak gives no usable key, and a check is one hash and one indexed lookup."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import re
import secrets
import threading
import time
import uuid

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from sentinel.errors import InvalidInput, NotFound
from sentinel.keys.caller import Caller
from sentinel.models import ApiKey, utcnow
from sentinel.services import DatabaseAccess

SCOPES = ("generate", "evaluate", "review", "admin")
PERIODS = ("day", "month")
TOKEN_PREFIX = "snt_"
#: The most requests per minute a key may be given: the api_keys.rpm column is a 32-bit INTEGER on PostgreSQL.
MAX_RPM = 2**31 - 1
#: A tenant's name: letters, digits and . _ - (it appears in logs and key lists), up to 100 characters.
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    # Cached: asked on every request (keys_required), and parsing an address is the costly part of the answer.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class KeyService:
    def __init__(self, services: DatabaseAccess) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._any_keys: tuple[float, bool] | None = None

    def create(
        self,
        name: str,
        scopes: list[str],
        spend_cap: float | None = None,
        period: str | None = None,
        rpm: int | None = None,
        tenant: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once). Without a tenant the key is a tenant of its own."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("a key needs a name of 1 to 100 characters", field="name")
        if not name.isprintable():
            # A key's name is a reviewer's name in decisions, logs, key lists and CSV exports: a line break in it
            # forged a log line and split an export's cell.
            raise InvalidInput("a key's name may not hold control characters (line breaks, tabs)", field="name")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise InvalidInput(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
        if spend_cap is not None and (not math.isfinite(spend_cap) or spend_cap <= 0 or period not in PERIODS):
            # inf (or 1e400, which is read as inf) would be stored and shown as "cap $inf": no cap is said by
            # leaving --spend-cap out.
            raise InvalidInput(
                "a spend cap needs a positive, finite amount and --period day or month (leave --spend-cap out for "
                "no cap)",
                field="spend_cap",
            )
        if spend_cap is None and period is not None:
            raise InvalidInput("--period needs --spend-cap", field="period")
        if rpm is not None and not 1 <= rpm <= MAX_RPM:
            # The column is a 32-bit INTEGER on PostgreSQL (and SQLite stops at 2**63): a larger number would be a
            # database error with a traceback instead of this message.
            raise InvalidInput(f"--rpm must be from 1 to {MAX_RPM}", field="rpm")
        if tenant is not None and not TENANT_PATTERN.fullmatch(tenant):
            raise InvalidInput(
                f"--tenant '{tenant}' is not a tenant name: 1 to 100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
                field="tenant",
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key_id = f"key_{uuid.uuid4().hex[:20]}"
        key = ApiKey(
            id=key_id,
            name=name,
            prefix=token[:10],
            secret_hash=hash_secret(token),
            scopes=sorted(set(scopes), key=SCOPES.index),
            spend_cap=spend_cap,
            spend_period=period,
            rpm=rpm,
            tenant=tenant or key_id,
        )
        with Session(self.services.engine, expire_on_commit=False) as session:
            active = select(ApiKey.id).where(ApiKey.name == name, col(ApiKey.revoked_at).is_(None))
            if (existing := session.exec(active).first()) is not None:
                # A key's name is who it is: the reviewer its decisions are recorded under, and what `keys revoke`
                # takes. Two active keys of one name could not be told apart.
                raise InvalidInput(
                    f"an active key named '{name}' already exists ({existing}); choose another name, or revoke "
                    f"that key first (`sentinel keys revoke {existing}`)",
                    field="name",
                )
            session.add(key)
            session.commit()
        self._forget()
        return key, token

    def list(self) -> list[ApiKey]:
        with Session(self.services.engine) as session:
            return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at))))

    def revoke(self, name_or_id: str) -> ApiKey:
        with Session(self.services.engine, expire_on_commit=False) as session:
            matches = list(
                session.exec(
                    select(ApiKey).where(
                        (col(ApiKey.id) == name_or_id) | (col(ApiKey.name) == name_or_id),
                        col(ApiKey.revoked_at).is_(None),
                    )
                )
            )
            if not matches:
                raise NotFound(f"no active key with id or name '{name_or_id}'")
            if len(matches) > 1:
                ids = ", ".join(k.id for k in matches)
                raise InvalidInput(f"{len(matches)} active keys are named '{name_or_id}' ({ids}); revoke one by id")
            [key] = matches
            session.execute(update(ApiKey).where(col(ApiKey.id) == key.id).values(revoked_at=utcnow()))
            session.commit()
            key.revoked_at = utcnow()
        self._forget()
        return key

    # -- checking ----------------------------------------------------------------------------------

    def caller(self, token: str) -> Caller | None:
        """The active key with this secret, or None."""
        digest = hash_secret(token)
        known, caller = self._cached(digest)
        if known:
            return caller
        now = time.monotonic()
        with Session(self.services.engine) as session:
            key = session.exec(
                select(ApiKey).where(ApiKey.secret_hash == digest, col(ApiKey.revoked_at).is_(None))
            ).first()
        caller = Caller.of(key) if key else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, caller)
        return caller

    def cached_caller(self, token: str) -> tuple[bool, Caller | None]:
        """:meth:`caller` as far as this process still trusts what it read, without a query: (whether it knows, the
        caller). For the event loop, where a query would stall every request."""
        return self._cached(hash_secret(token))

    def _cached(self, digest: str) -> tuple[bool, Caller | None]:
        with self._lock:
            cached = self._cache.get(digest)
        if cached and time.monotonic() - cached[0] < self.services.settings.api_key_cache_seconds:
            return True, cached[1]
        return False, None

    def active(self, key_id: str) -> Caller | None:
        """The key with this id, unless revoked (for sessions made from an API key)."""
        with Session(self.services.engine) as session:
            key = session.get(ApiKey, key_id)
        return Caller.of(key) if key is not None and key.revoked_at is None else None

    def any_created(self) -> bool:
        now = time.monotonic()
        if self._any_keys and now - self._any_keys[0] < self.services.settings.api_key_cache_seconds:
            return self._any_keys[1]
        try:
            with Session(self.services.engine) as session:
                # Revoked keys count: revoking the last key must not open the server again.
                count = session.exec(select(func.count()).select_from(ApiKey)).one()
        except Exception:
            if self._any_keys is not None:
                return self._any_keys[1]  # the database is away for a moment: keep what we last knew
            raise
        self._any_keys = (now, count > 0)
        return count > 0

    def keys_required(self) -> bool:
        """Open only on a loopback address before any key was created (the embedded quick start); else every call
        needs a key."""
        settings = self.services.settings
        return settings.require_api_keys or not is_loopback(settings.host) or self.any_created()

    def cached_keys_required(self) -> bool | None:
        """:meth:`keys_required` without a query: None when whether any key exists must be read again."""
        settings = self.services.settings
        if settings.require_api_keys or not is_loopback(settings.host):
            return True
        known = self._any_keys
        if known is not None and time.monotonic() - known[0] < settings.api_key_cache_seconds:
            return known[1]
        return None

    def _forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._any_keys = None
