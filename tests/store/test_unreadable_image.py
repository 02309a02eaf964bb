"""An upload that starts like an image but is not one is refused in words its sender can use: never the address of
the in-memory file object the decoder was handed."""

from __future__ import annotations

import pytest

from sentinel.errors import BadImage
from sentinel.store.images import decode_image, inspect_image

NOT_IMAGES = {
    "png-signature-then-garbage": b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
    "gif-header-then-zeros": b"GIF89a" + b"\0" * 20,
    "webp-riff-without-chunks": b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 30,
    "jpeg-marker-then-text": b"\xff\xd8\xff" + b"x" * 50,
}


@pytest.mark.parametrize("data", NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_an_unreadable_image_is_refused_without_internal_object_names(data: bytes) -> None:
    for read in (
        lambda: inspect_image(data, max_bytes=10_000_000, max_pixels=100_000_000, field="image"),
        lambda: decode_image(data, max_pixels=100_000_000),
    ):
        with pytest.raises(BadImage) as refused:
            read()
        message = refused.value.message
        assert message.startswith("image could not be read: ")
        assert "0x" not in message and "BytesIO" not in message and "object at" not in message, message
