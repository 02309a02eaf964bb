"""Storing images once by content hash, and reading them back for judges and clients."""

from __future__ import annotations

from sqlmodel import Session

from sentinel.db import insert_unless_present
from sentinel.errors import NotFound
from sentinel.evaluation.judges.base import ImageSource
from sentinel.models import StoredImage
from sentinel.settings import Settings
from sentinel.store.blobs import FilesystemBlobStore, is_sha256
from sentinel.store.images import ImageInfo, inspect_image


class ImageService:
    def __init__(self, settings: Settings, blobs: FilesystemBlobStore) -> None:
        self.settings = settings
        self.blobs = blobs

    def inspect(self, data: bytes, field: str) -> ImageInfo:
        """Validate untrusted bytes; raises BadImage / ImageTooLarge naming ``field``."""
        return inspect_image(
            data,
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
            field=field,
        )

    def store(self, session: Session, info: ImageInfo, data: bytes) -> None:
        """Write the blob and its row (inside the caller's transaction); a second store is a no-op."""
        self.blobs.put(info.sha256, data)
        values = {
            "id": info.sha256,
            "mime": info.mime,
            "width": info.width,
            "height": info.height,
            "size_bytes": info.size_bytes,
        }
        # Two requests storing the same bytes at once must both succeed with one row.
        insert_unless_present(session, StoredImage, values, ["id"])

    def get(self, session: Session, image_id: str) -> StoredImage:
        row = session.get(StoredImage, image_id) if is_sha256(image_id) else None
        if row is None:
            raise NotFound(f"no image with id '{image_id}'", field="image_id")
        return row

    def read(self, image_id: str) -> bytes:
        try:
            return self.blobs.get(image_id)
        except (FileNotFoundError, ValueError) as exc:
            raise NotFound(f"the bytes of image '{image_id}' are not in the blob store") from exc

    def source(self, row: StoredImage) -> ImageSource:
        image_id = row.id
        return ImageSource(
            sha256=image_id,
            mime=row.mime,
            load_bytes=lambda: self.read(image_id),
            max_pixels=self.settings.max_image_pixels,
        )

    @staticmethod
    def url(image_id: str) -> str:
        return f"/v1/images/{image_id}"
