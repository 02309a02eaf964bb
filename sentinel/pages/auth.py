"""Reviewer login for the pages: a reviewer key is exchanged for a signed session cookie that also carries the
CSRF token every POST must echo. No server-side session store: removing a key ends its sessions too, because
the cookie carries a fingerprint of the key it was made from."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

from sentinel.errors import SentinelError
from sentinel.keyfiles import read_or_create
from sentinel.keys.service import KeyService
from sentinel.settings import Settings, parse_reviewer_keys

SESSION_COOKIE = "sentinel_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: A session made from an API key is bound to the key's id (so revoking the key ends it).
API_KEY_BINDING = "api:"


class CsrfRefused(SentinelError):
    status_code = 403
    error_type = "csrf_refused"


@dataclass(frozen=True)
class Reviewer:
    name: str
    csrf_token: str


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class ReviewerAuth:
    def __init__(self, settings: Settings, api_keys: KeyService | None = None) -> None:
        self.settings = settings
        #: API keys with the `review` (or `admin`) scope log in too, as the key's name.
        self.api_keys = api_keys
        secret = settings.session_secret or read_or_create(
            Path(settings.data_dir) / "session-secret", lambda: secrets.token_hex(32)
        )
        self._serializer = URLSafeTimedSerializer(secret.strip(), salt="sentinel-review-session")

    @property
    def keys_file(self) -> Path:
        return Path(self.settings.data_dir) / "reviewer-keys"

    def keys(self) -> dict[str, str]:
        """Reviewer name → key, from settings, or the data folder's file (made with one `admin` key if missing)."""
        if self.settings.reviewer_keys:
            return self.settings.reviewer_keys
        text = read_or_create(
            self.keys_file,
            lambda: "# Reviewers of the review pages, one name:key a line.\nadmin:" + secrets.token_urlsafe(24) + "\n",
        )
        return parse_reviewer_keys(text, str(self.keys_file))

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

    def session_cookie(self, reviewer: str, binding: str) -> str:
        return self._serializer.dumps({"r": reviewer, "k": binding, "c": secrets.token_urlsafe(24)})

    def _still_valid(self, reviewer: str, binding: str) -> bool:
        """Removing a reviewer key or revoking an API key ends the sessions made with it."""
        if binding.startswith(API_KEY_BINDING):
            caller = self.api_keys.active(binding.removeprefix(API_KEY_BINDING)) if self.api_keys else None
            return caller is not None and caller.name == reviewer and caller.allows("review")
        key = self.keys().get(reviewer)
        return key is not None and hmac.compare_digest(_fingerprint(key), binding)

    def reviewer_from_cookie(self, cookie: str | None) -> Reviewer | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.settings.session_max_age_seconds)
        except BadSignature:  # also covers an expired signature
            return None
        if not isinstance(data, dict):
            return None
        if not self._still_valid(str(data.get("r")), str(data.get("k"))):
            return None
        return Reviewer(name=str(data["r"]), csrf_token=str(data.get("c", "")))


def check_csrf(reviewer: Reviewer, submitted: str | None, origin: str | None, host: str | None) -> None:
    """A page POST must carry the session's token, and, when the browser says where it came from, come from here."""
    if origin and origin != "null" and host and urlsplit(origin).netloc != host:
        raise CsrfRefused(f"refused: this form was sent from {origin}, not from this site")
    if not submitted or not hmac.compare_digest(submitted.encode(), reviewer.csrf_token.encode()):
        raise CsrfRefused("refused: the form's security token is missing or stale; reload the page and try again")


def safe_next(target: str | None, default: str = "/review") -> str:
    """Where to go after login: only a path on this site (never //host or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
