"""Storing images once by content hash, and reading them back for judges and clients."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from sentinel.db import insert_for
from sentinel.errors import NotFound
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import owned_by
from sentinel.models import ImageOwner, StoredImage, as_utc, utcnow
from sentinel.settings import Settings
from sentinel.store.blobs import BlobNotFound, BlobStore, is_sha256, put_all
from sentinel.store.images import ImageInfo, inspect_image
from sentinel.store.signing import KeyOrSignatureRequired, UrlSigner, session_secret


@cache
def _image_statements(dialect: str) -> tuple[Insert, Insert]:
    """The upsert of an image's row (as :meth:`ImageService.store` does it) and the insert of an owner unless
    present, built once per dialect: SQLAlchemy then finds their compiled form in its cache without rebuilding."""
    insert = insert_for(dialect)
    image = insert(StoredImage)
    upsert = image.on_conflict_do_update(
        index_elements=["id"], set_={"stored_at": image.excluded.stored_at, "purged_at": None}
    )
    own = insert(ImageOwner).on_conflict_do_nothing(index_elements=["image_id", "key_id"])
    return upsert, own


@dataclass(frozen=True)
class ImageRows:
    """What storing images writes: their rows and their owners' (each sorted, so two writers storing the same images
    lock their rows in one order and never deadlock), and their blobs as ``(sha256, data, mime)``."""

    images: list[dict[str, Any]]
    owners: list[dict[str, Any]]
    blobs: list[tuple[str, bytes, str]]


def image_rows(images: Iterable[tuple[ImageInfo, bytes, str | None]]) -> ImageRows:
    """The rows of images given as (info, bytes, the key that sent or asked for them): one per image however often
    it comes, one owner per image and key."""
    rows: dict[str, dict[str, Any]] = {}
    owners: dict[tuple[str, str], dict[str, Any]] = {}
    blobs: dict[str, tuple[bytes, str]] = {}
    now = utcnow()
    for info, data, key_id in images:
        rows[info.sha256] = {
            "id": info.sha256,
            "mime": info.mime,
            "width": info.width,
            "height": info.height,
            "size_bytes": info.size_bytes,
            "created_at": now,
            "stored_at": now,
        }
        if key_id is not None:
            owners[(info.sha256, key_id)] = {"image_id": info.sha256, "key_id": key_id, "created_at": now}
        blobs[info.sha256] = (data, info.mime)
    return ImageRows(
        [rows[sha256] for sha256 in sorted(rows)],
        [owners[pair] for pair in sorted(owners)],
        [(sha256, *blobs[sha256]) for sha256 in sorted(blobs)],
    )


class ImageService:
    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        self.settings = settings
        self.blobs = blobs
        self.presigned = settings.image_urls == "presigned"

    def inspect(self, data: bytes, field: str) -> ImageInfo:
        """Validate untrusted bytes; raises BadImage / ImageTooLarge naming ``field``."""
        return inspect_image(
            data,
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
            field=field,
        )

    def store(self, session: Session, info: ImageInfo, data: bytes, key_id: str | None = None) -> None:
        """Write the image's row, then its blob, inside the caller's transaction; a second store is one row.
        ``key_id``, the key that sent or asked for the image, becomes one of its owners.

        The row comes first and is locked (an upsert that touches ``stored_at``) until the caller commits
        the rows that reference it: `sentinel storage gc` locks a row before deleting its blob, so it
        either finishes first (and this put writes the blob afresh) or sees the fresh ``stored_at`` and
        the new references, and keeps it.
        """
        self.store_many(session.connection(), [(info, data, key_id)])

    def store_many(self, connection: Connection, images: Iterable[tuple[ImageInfo, bytes, str | None]]) -> None:
        """:meth:`store` for many images at once, inside the caller's transaction on ``connection``: each image
        (its info, bytes and the key that asked for it) is one row however often it comes, its rows are written
        before its blob, and the statements are SQLAlchemy Core run once for all of them (the gateway's write path,
        where ORM sessions cost more CPU than the rest of the request's bookkeeping)."""
        rows = image_rows(images)
        if not rows.images:
            return
        upsert, own = _image_statements(connection.dialect.name)
        connection.execute(upsert, rows.images)
        if rows.owners:
            connection.execute(own, rows.owners)
        self.put_blobs(rows)

    def put_blobs(self, rows: ImageRows) -> None:
        """The blobs of ``rows``, once their rows are written (and locked) in the caller's transaction. All at once
        where the store can: a new image costs a write and an fsync, which overlap on the device."""
        put_all(self.blobs, rows.blobs)

    def get_for(
        self,
        session: Session,
        image_id: str,
        caller: Caller | None,
        keys_required: bool,
        expires: str | None = None,
        signature: str | None = None,
    ) -> StoredImage:
        """The image, if this request may read it: with a valid signed URL, a key of a tenant that stored it (or
        an admin key), or anything on an open server. Another tenant's image is not found, as a missing one is."""
        if expires is not None or signature is not None:
            self.signer.check(image_id, expires, signature)
            return self.get(session, image_id)
        if caller is None and keys_required:
            raise KeyOrSignatureRequired(
                "this image URL is not signed: send an API key as 'Authorization: Bearer <key>', or use the signed "
                "URL the job, evaluation or generation answered with"
            )
        row = self.get(session, image_id)
        if not self.readable_by(session, image_id, caller):
            raise NotFound(f"no image with id '{image_id}'", field="image_id")
        return row

    def readable_by(self, session: Session, image_id: str, caller: Caller | None) -> bool:
        """Whether a key of the caller's tenant stored this image (an admin key, or no key on an open server: yes)."""
        condition = owned_by(ImageOwner.key_id, caller)
        if condition is None:
            return True
        query = select(col(ImageOwner.id)).where(col(ImageOwner.image_id) == image_id, condition).limit(1)
        return session.exec(query).first() is not None

    def get(self, session: Session, image_id: str) -> StoredImage:
        row = session.get(StoredImage, image_id) if is_sha256(image_id) else None
        if row is None:
            raise NotFound(f"no image with id '{image_id}'", field="image_id")
        if row.purged_at is not None:
            raise NotFound(
                f"image '{image_id}' was deleted on {as_utc(row.purged_at):%Y-%m-%d} under the image retention policy",
                field="image_id",
            )
        return row

    def read(self, image_id: str) -> bytes:
        try:
            return self.blobs.get(image_id)
        except (BlobNotFound, ValueError) as exc:
            raise NotFound(f"the bytes of image '{image_id}' are not in the blob store") from exc

    def stream(self, image_id: str) -> Iterator[bytes]:
        try:
            return self.blobs.stream(image_id)
        except (BlobNotFound, ValueError) as exc:
            raise NotFound(f"the bytes of image '{image_id}' are not in the blob store") from exc

    @cached_property
    def signer(self) -> UrlSigner:
        """Signs the /v1/images URLs handed out, which must work in a browser that sends no API key."""
        return UrlSigner(session_secret(self.settings), self.settings.presign_ttl_seconds)

    @cached_property
    def presigned_origin(self) -> str | None:
        """The object store's origin that presigned image URLs point at (pages must allow images from it)."""
        if not self.presigned:
            return None
        probe = self.blobs.presigned_url("0" * 64, 60)
        if probe is None:
            return None
        parts = urlsplit(probe)
        return f"{parts.scheme}://{parts.netloc}"

    def url(self, image_id: str, base_url: str = "") -> str:
        """Where a client fetches the image: signed afresh on every call, never to be stored."""
        if self.presigned:
            signed = self.blobs.presigned_url(image_id, self.settings.presign_ttl_seconds)
            if signed is not None:
                return signed
        return f"{base_url}/v1/images/{image_id}?{self.signer.query(image_id)}"
