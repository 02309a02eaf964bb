"""Storing images once by content hash, and reading them back for judges and clients."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from urllib.parse import urlsplit

from sqlmodel import Session

from sentinel.db import dialect_insert
from sentinel.errors import NotFound
from sentinel.evaluation.judges.base import ImageSource
from sentinel.models import StoredImage, as_utc, utcnow
from sentinel.settings import Settings
from sentinel.store.blobs import BlobNotFound, BlobStore, is_sha256
from sentinel.store.images import ImageInfo, inspect_image


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

    def store(self, session: Session, info: ImageInfo, data: bytes) -> None:
        """Write the image's row, then its blob, inside the caller's transaction; a second store is one row.

        The row comes first and is locked (an upsert that touches ``stored_at``) until the caller commits
        the rows that reference it: `sentinel storage gc` locks a row before deleting its blob, so it
        either finishes first (and this put writes the blob afresh) or sees the fresh ``stored_at`` and
        the new references, and keeps it.
        """
        now = utcnow()
        values = {
            "id": info.sha256,
            "mime": info.mime,
            "width": info.width,
            "height": info.height,
            "size_bytes": info.size_bytes,
            "created_at": now,
            "stored_at": now,
        }
        statement = dialect_insert(session.get_bind())(StoredImage).values(**values)
        # Two requests storing the same bytes at once must both succeed with one row.
        session.execute(
            statement.on_conflict_do_update(index_elements=["id"], set_={"stored_at": now, "purged_at": None})
        )
        self.blobs.put(info.sha256, data, info.mime)

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

    def source(self, row: StoredImage) -> ImageSource:
        image_id = row.id
        return ImageSource(
            sha256=image_id,
            mime=row.mime,
            load_bytes=lambda: self.read(image_id),
            max_pixels=self.settings.max_image_pixels,
        )

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
        return f"{base_url}/v1/images/{image_id}"
