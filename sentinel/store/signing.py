"""Signed image URLs: ``/v1/images/{id}?expires=…&signature=…`` reads one image until it expires, without a key.

Browsers and ``<img>`` tags send no Authorization header, so the URLs Sentinel hands out (jobs, evaluations, the
gateway's ``data[].url``, the review pages) carry an HMAC of the image id and the expiry instead. The secret is
the review pages' session secret (``SENTINEL_SESSION_SECRET``, else the data folder's ``session-secret``), under
a label of its own, so a URL signature can never pass for a session cookie or the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sentinel.errors import SentinelError
from sentinel.keyfiles import read_or_create
from sentinel.settings import Settings

#: Query parameters of a signed URL.
EXPIRES_PARAM = "expires"
SIGNATURE_PARAM = "signature"
#: Expiry times are rounded up to a multiple of this, so one image's URL stays the same for a while and
#: browsers reuse what they cached.
EXPIRY_STEP_SECONDS = 300
#: Keeps the URL-signing key apart from every other use of the session secret.
LABEL = b"sentinel-image-url-v1"


class SignatureRefused(SentinelError):
    status_code = 403
    error_type = "permission_error"
    code = "invalid_signature"


class KeyOrSignatureRequired(SentinelError):
    """An unsigned image URL, without a key, once keys exist: the answer never says whether the image exists."""

    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


def session_secret(settings: Settings) -> str:
    """The review pages' session secret: the setting, else a random one kept in the data folder."""
    return settings.session_secret or read_or_create(
        Path(settings.data_dir) / "session-secret", lambda: secrets.token_hex(32)
    )


class UrlSigner:
    def __init__(self, secret: str, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret.strip().encode(), LABEL, hashlib.sha256).digest()
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def _signature(self, image_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{image_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, image_id: str) -> str:
        """The query string that lets anyone holding it read this image for at least ``ttl_seconds``."""
        expires = math.ceil((self._clock() + self.ttl_seconds) / EXPIRY_STEP_SECONDS) * EXPIRY_STEP_SECONDS
        return f"{EXPIRES_PARAM}={expires}&{SIGNATURE_PARAM}={self._signature(image_id, expires)}"

    def check(self, image_id: str, expires: str | None, signature: str | None) -> None:
        """Pass when the signature is this server's for this image and has not expired; else raise saying why."""
        if not expires or not signature:
            raise SignatureRefused(
                f"a signed image URL needs both '{EXPIRES_PARAM}' and '{SIGNATURE_PARAM}'", field=SIGNATURE_PARAM
            )
        if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
            raise SignatureRefused(f"'{EXPIRES_PARAM}' must be a Unix time in seconds", field=EXPIRES_PARAM)
        if not hmac.compare_digest(self._signature(image_id, int(expires)).encode(), signature.encode("utf-8")):
            raise SignatureRefused(
                "the image URL's signature does not match it (altered, or signed by another server)",
                field=SIGNATURE_PARAM,
            )
        if int(expires) < self._clock():
            when = datetime.fromtimestamp(int(expires), UTC).isoformat(timespec="seconds")
            raise SignatureRefused(
                f"the signed image URL expired at {when}; read the job or evaluation again for a fresh one",
                field=EXPIRES_PARAM,
            )
