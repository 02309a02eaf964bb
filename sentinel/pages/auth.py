"""Reviewer login for the pages. A reviewer key (or an API key with the review scope) is exchanged for a session
kept in the database and named by a signed cookie; the session holds the CSRF token every POST must echo.
Logging out deletes the session, in every API process at once; removing the key it was made from ends it too.
The login form has a CSRF token of its own, bound to a short-lived cookie, so another site cannot log a browser
in under the other site's key."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlmodel import Session, col

from sentinel.errors import ConfigError, SentinelError
from sentinel.keyfiles import read_or_create
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import ReviewerSession, as_utc, utcnow
from sentinel.services import Services
from sentinel.settings import Settings, read_reviewer_keys

logger = logging.getLogger(__name__)

SESSION_COOKIE = "sentinel_session"
#: Holds the login form's CSRF token until the form is sent: the form field and this cookie must match.
LOGIN_COOKIE = "sentinel_login"
#: How long a login form may sit open before it has to be reloaded.
LOGIN_FORM_MAX_AGE_SECONDS = 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: A session made from an API key is bound to the key's id (so revoking the key ends it).
API_KEY_BINDING = "api:"
#: Name of the reviewer-keys file in the data folder (when SENTINEL_REVIEWER_KEYS is unset).
KEYS_FILE_NAME = "reviewer-keys"


class CsrfRefused(SentinelError):
    status_code = 403
    error_type = "csrf_refused"


@dataclass(frozen=True)
class Reviewer:
    name: str
    csrf_token: str
    #: The session's row (what logging out deletes).
    session_id: str = ""
    #: The API key the session was made from: the pages show its tenant's items only. None for a reviewer of the
    #: reviewer-keys file, whom the operator named to review for the whole service.
    caller: Caller | None = None


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _default_keys_file() -> str:
    return "# Reviewers of the review pages, one name:key a line.\nadmin:" + secrets.token_urlsafe(24) + "\n"


def parse_keys_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The file's reviewer keys, and ``file:line: reason`` for every line that is not a good ``name:key``."""
    entries: list[tuple[str, str]] = []
    problems: list[str] = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            entries.append((f"{path}:{number}", raw.decode()))
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    keys, bad = read_reviewer_keys(entries)
    return keys, sorted(problems + bad, key=lambda p: int(p.removeprefix(f"{path}:").split(":", 1)[0]))


class ReviewerKeysFile:
    """The data folder's reviewer-keys file (made with one ``admin`` key if missing), read again when it changes.

    ``sentinel serve`` refuses to start on a bad line (``check``); a line that goes bad while it runs is skipped
    with a warning naming file:line, so one typo never turns every page into an error."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        #: (inode, size, mtime, ctime) of the text the keys came from: an edit changes at least one.
        self._stamp: tuple[int, int, int, int] | None = None
        self._keys: dict[str, str] = {}
        self._last_error: str | None = None

    def check(self) -> None:
        """Create the file if missing; ConfigError naming the first bad line (``file:line: reason``)."""
        try:
            read_or_create(self.path, _default_keys_file)
            _, problems = parse_keys_file(self.path)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the reviewer keys: {exc.strerror}") from exc
        if problems:
            more = f" (and {len(problems) - 1} more bad lines)" if len(problems) > 1 else ""
            raise ConfigError(problems[0] + more)

    def keys(self) -> dict[str, str]:
        with self._lock:
            try:
                if not self.path.exists():
                    read_or_create(self.path, _default_keys_file)
                stat = self.path.stat()
                stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
                if stamp != self._stamp:
                    self._keys, problems = parse_keys_file(self.path)
                    self._stamp, self._last_error = stamp, None
                    for problem in problems:
                        logger.warning("reviewer key skipped: %s", problem)
            except OSError as exc:
                # Nobody logs in with keys that cannot be read; that is a refusal, not a server error.
                message = f"{self.path}: cannot read the reviewer keys: {exc.strerror}"
                if message != self._last_error:
                    logger.warning("%s; no reviewer key works until it can be read", message)
                self._keys, self._stamp, self._last_error = {}, None, message
            return self._keys


def check_reviewer_keys(settings: Settings) -> None:
    """For ``sentinel serve``: ConfigError naming file:line when the reviewer-keys file has a bad line (it is made
    with one ``admin`` key if missing). SENTINEL_REVIEWER_KEYS is checked with the other settings."""
    if not settings.reviewer_keys:
        ReviewerKeysFile(Path(settings.data_dir) / KEYS_FILE_NAME).check()


class ReviewerAuth:
    def __init__(self, services: Services, api_keys: KeyService | None = None) -> None:
        self.services = services
        self.settings: Settings = services.settings
        #: API keys with the `review` (or `admin`) scope log in too, as the key's name.
        self.api_keys = api_keys
        self.keys_file = Path(self.settings.data_dir) / KEYS_FILE_NAME
        self._keys_file = ReviewerKeysFile(self.keys_file)
        secret = self.settings.session_secret or read_or_create(
            Path(self.settings.data_dir) / "session-secret", lambda: secrets.token_hex(32)
        )
        self._serializer = URLSafeTimedSerializer(secret.strip(), salt="sentinel-review-session")
        self._login_serializer = URLSafeTimedSerializer(secret.strip(), salt="sentinel-login-form")

    def keys(self) -> dict[str, str]:
        """Reviewer name → key, from settings, or the data folder's file (made with one `admin` key if missing)."""
        if self.settings.reviewer_keys:
            return self.settings.reviewer_keys
        return self._keys_file.keys()

    def reviewer_for_key(self, key: str) -> tuple[str, str] | None:
        """(reviewer name, what the session is bound to) for a reviewer key or an API key with the review scope."""
        key = key.strip()
        for name, known in self.keys().items():
            if hmac.compare_digest(known.encode(), key.encode()):
                return name, _fingerprint(known)
        caller = self.api_keys.caller(key) if self.api_keys and key else None
        if caller is not None and caller.allows("review"):
            return caller.name, f"{API_KEY_BINDING}{caller.id}"
        return None

    # -- sessions ------------------------------------------------------------------------------------------

    def start_session(self, reviewer: str, binding: str) -> str:
        """A new session for the reviewer; returns the session cookie's value."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = ReviewerSession(
            id=_session_id(token),
            reviewer=reviewer,
            binding=binding,
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.session_max_age_seconds),
        )
        with Session(self.services.engine) as session:
            # Logins are rare: tidying expired sessions here keeps the table as small as the live ones.
            session.execute(delete(ReviewerSession).where(col(ReviewerSession.expires_at) < now))
            session.add(row)
            session.commit()
        return self._serializer.dumps(token)

    def end_session(self, reviewer: Reviewer) -> None:
        """Log out: the session is gone for every API process, whoever holds a copy of the cookie."""
        with Session(self.services.engine) as session:
            session.execute(delete(ReviewerSession).where(col(ReviewerSession.id) == reviewer.session_id))
            session.commit()

    def _still_valid(self, reviewer: str, binding: str) -> bool:
        """Removing a reviewer key or revoking an API key ends the sessions made with it."""
        if binding.startswith(API_KEY_BINDING):
            caller = self.api_keys.active(binding.removeprefix(API_KEY_BINDING)) if self.api_keys else None
            return caller is not None and caller.name == reviewer and caller.allows("review")
        key = self.keys().get(reviewer)
        return key is not None and hmac.compare_digest(_fingerprint(key), binding)

    def reviewer_from_cookie(self, cookie: str | None) -> Reviewer | None:
        """The reviewer whose live session the cookie names; None for a missing, forged, expired or ended one."""
        if not cookie or len(cookie) > 512:
            return None
        try:
            token = self._serializer.loads(cookie, max_age=self.settings.session_max_age_seconds)
        except BadSignature:  # also covers an expired signature
            return None
        if not isinstance(token, str):
            return None
        with Session(self.services.engine) as session:
            row = session.get(ReviewerSession, _session_id(token))
        if row is None or as_utc(row.expires_at) <= utcnow():
            return None
        if not self._still_valid(row.reviewer, row.binding):
            return None
        caller = None
        if row.binding.startswith(API_KEY_BINDING) and self.api_keys is not None:
            caller = self.api_keys.active(row.binding.removeprefix(API_KEY_BINDING))
        return Reviewer(name=row.reviewer, csrf_token=row.csrf_token, session_id=row.id, caller=caller)

    # -- the login form's CSRF token -------------------------------------------------------------------------

    def login_form_token(self, cookie: str | None) -> tuple[str, str]:
        """(token for the form, value for the login cookie): the cookie's token while it is still good, else new."""
        token = self.login_token_of(cookie)
        if token is None:
            token = secrets.token_urlsafe(24)
        return token, self._login_serializer.dumps(token)

    def login_token_of(self, cookie: str | None) -> str | None:
        if not cookie or len(cookie) > 512:
            return None
        try:
            token = self._login_serializer.loads(cookie, max_age=LOGIN_FORM_MAX_AGE_SECONDS)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None


def check_origin(origin: str | None, referer: str | None, host: str | None) -> None:
    """A browser says where a POST comes from (Origin, else Referer); it must be this site. Neither: not a
    browser's cross-site request (browsers send Origin on every POST), and the CSRF token still has to match."""
    source = origin if origin is not None else referer
    if source is None:
        return
    where = urlsplit(source).netloc if source != "null" else ""
    if not host or not where or where.lower() != host.lower():
        # "null" (a sandboxed frame, a data: page) is as foreign as another site.
        shown = source if origin is not None else urlsplit(source)._replace(path="", query="", fragment="").geturl()
        raise CsrfRefused(f"refused: this form was sent from {shown[:200]}, not from this site")


def check_token(expected: str | None, submitted: str | None) -> None:
    if not expected or not submitted or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CsrfRefused("refused: the form's security token is missing or stale; reload the page and try again")


def check_csrf(
    reviewer: Reviewer, submitted: str | None, origin: str | None, host: str | None, referer: str | None = None
) -> None:
    """A page POST must come from this site and carry the session's token."""
    check_origin(origin, referer, host)
    check_token(reviewer.csrf_token, submitted)


def safe_next(target: str | None, default: str = "/review") -> str:
    """Where to go after login: only a path on this site (never //host or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
