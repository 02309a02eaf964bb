"""Answers to Idempotency-Key requests that the database could not keep for replays, kept on this server's disk.

A generation's answer is paid for (the provider made its images) before it is stored for its key. When the database
is away just then, the answer cannot be saved, and a retry with the same key would buy the images again. So the
answer is kept in a folder of the server's own, by (key owner, endpoint, key), with the images a replay needs whose
rows could not be written either; a retry with the same key finds it there and replays it, and it is written (with
those images) to the database as soon as the database answers, by the server itself or by that retry. Until then
only a retry that reaches this server finds it: another server does the request again once the key's claim is
stale, as after a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sentinel.keyfiles import write_whole

logger = logging.getLogger(__name__)

#: A kept answer older than this is dropped: a client retries within minutes, and the key's claim was taken over
#: by any retry reaching another server long before.
KEPT_FOR_SECONDS = 24 * 3600
#: What a request whose answer waits for the database asks its client to wait before retrying, in seconds.
RETRY_AFTER_SECONDS = 5

_ANSWER = "answer.json"

#: An image id: the SHA-256 of its bytes, as the store names them.
_IMAGE_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ImageFacts:
    """What the image store writes an image's row from (its ``ImageInfo``'s fields), read back from disk."""

    sha256: str
    mime: str
    width: int
    height: int
    size_bytes: int


#: An image whose row a replay must write first: its facts (the store's ``ImageInfo``, or :class:`ImageFacts` read
#: back), its bytes, the key that asked for it.
KeptImage = tuple[Any, bytes, str | None]


@dataclass
class KeptAnswer:
    scope: str
    endpoint: str
    key: str
    fingerprint: str
    status_code: int
    response: dict[str, Any]
    headers: dict[str, str]
    #: Images the answer names that have no row yet: written with the key's answer, before it is replayed.
    images: list[KeptImage] = field(default_factory=list)


class KeptAnswers:
    """One folder per key: its answer (written last, so a half-kept one is never read) and its images' bytes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _folder_of(self, scope: str, endpoint: str, key: str) -> Path:
        named = hashlib.sha256("\0".join((scope, endpoint, key)).encode()).hexdigest()
        return self.folder / named

    def keep(self, answer: KeptAnswer) -> None:
        """Keep ``answer`` until a retry comes; raises OSError when the disk cannot take it."""
        folder = self._folder_of(answer.scope, answer.endpoint, answer.key)
        for info, data, _ in answer.images:
            write_whole(folder / info.sha256, data)
        facts = {
            "scope": answer.scope,
            "endpoint": answer.endpoint,
            "key": answer.key,
            "fingerprint": answer.fingerprint,
            "status_code": answer.status_code,
            "response": answer.response,
            "headers": answer.headers,
            "images": [
                {"info": [info.sha256, info.mime, info.width, info.height, info.size_bytes], "owner": owner}
                for info, _, owner in answer.images
            ],
        }
        write_whole(folder / _ANSWER, orjson.dumps(facts))

    def holds(self, scope: str, endpoint: str, key: str) -> bool:
        """Whether an answer is kept for this key: one stat (every request with a key asks)."""
        return (self._folder_of(scope, endpoint, key) / _ANSWER).exists()

    def find(self, scope: str, endpoint: str, key: str) -> KeptAnswer | None:
        """The answer kept for this key, None when there is none (one failed open when nothing is kept)."""
        folder = self._folder_of(scope, endpoint, key)
        try:
            facts = orjson.loads((folder / _ANSWER).read_bytes())
        except FileNotFoundError:
            return None
        try:
            images = [self._image(folder, kept["info"], kept["owner"]) for kept in facts["images"]]
            return KeptAnswer(
                scope=facts["scope"],
                endpoint=facts["endpoint"],
                key=facts["key"],
                fingerprint=facts["fingerprint"],
                status_code=facts["status_code"],
                response=facts["response"],
                headers=facts["headers"],
                images=images,
            )
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.warning("the answer kept for an Idempotency-Key cannot be read (%s): it is dropped", exc)
            self.forget(scope, endpoint, key)
            return None

    @staticmethod
    def _image(folder: Path, info: list[Any], owner: str | None) -> KeptImage:
        facts = ImageFacts(*info)
        if not _IMAGE_ID.fullmatch(facts.sha256):
            raise ValueError(f"not an image id: {facts.sha256!r}")
        data = (folder / facts.sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != facts.sha256:
            raise ValueError(f"the bytes kept for image {facts.sha256} do not match it")
        return facts, data, owner

    def forget(self, scope: str, endpoint: str, key: str) -> None:
        """Drop what was kept for this key (the database holds it now)."""
        shutil.rmtree(self._folder_of(scope, endpoint, key), ignore_errors=True)

    def sweep(self, now: float | None = None) -> int:
        """Drop answers kept longer than :data:`KEPT_FOR_SECONDS` (and folders a crash left half-written that long);
        how many."""
        too_old = (time.time() if now is None else now) - KEPT_FOR_SECONDS
        dropped = 0
        with contextlib.suppress(OSError):
            for child in os.scandir(self.folder):
                try:
                    old = child.is_dir(follow_symlinks=False) and child.stat().st_mtime < too_old
                except OSError:
                    continue
                if old:
                    shutil.rmtree(child.path, ignore_errors=True)
                    dropped += 1
        return dropped


def kept_answers(data_dir: Path | str) -> KeptAnswers:
    """Where this server keeps them: ``data_dir/unrecorded-answers``."""
    return KeptAnswers(Path(data_dir) / "unrecorded-answers")
