"""The PNG structure check on the gateway's request path refuses exactly what Pillow's ``verify()`` refuses.

``check_image`` walks a PNG's chunks itself (zlib-ng's CRC-32 over a view of the bytes, no copies); Pillow's
verify is the oracle it must agree with on every damaged file here, accepted or refused.
"""

from __future__ import annotations

import io
import random
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from sentinel.errors import BadImage, ImageTooLarge
from sentinel.store.images import check_image

LIMITS = {"max_bytes": 64 << 20, "max_pixels": 50_000_000}


def chunk(kind: bytes, payload: bytes, crc: int | None = None) -> bytes:
    value = zlib.crc32(kind + payload) if crc is None else crc
    return len(payload).to_bytes(4, "big") + kind + payload + value.to_bytes(4, "big")


def noise_png(side: int = 48, **save: object) -> bytes:
    pixels = np.random.default_rng(side).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", **save)
    return buffer.getvalue()


def split_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        chunks.append((data[position + 4 : position + 8], data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def rebuild(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunk(kind, payload) for kind, payload in chunks)


def several_idat(data: bytes, pieces: int = 4) -> bytes:
    """The same image with its data spread over several IDAT chunks (some encoders write 8 KiB ones)."""
    out: list[tuple[bytes, bytes]] = []
    for kind, payload in split_chunks(data):
        if kind == b"IDAT":
            step = len(payload) // pieces + 1
            out.extend((b"IDAT", payload[i : i + step]) for i in range(0, len(payload), step))
        else:
            out.append((kind, payload))
    return rebuild(out)


def pillow_accepts(data: bytes) -> bool:
    """The oracle: what check_image did before it walked chunks itself (Pillow's verify, then the IEND tail check)."""
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        image.verify()
    except Exception:
        return False
    return b"IEND" in data[-16:]


def we_accept(data: bytes) -> bool:
    try:
        check_image(data, **LIMITS)
    except (BadImage, ImageTooLarge):
        return False
    return True


GOOD = noise_png()
SPLIT = several_idat(noise_png(64))
WITH_TEXT_AFTER_DATA = rebuild([*split_chunks(GOOD)[:-1], (b"tEXt", b"Comment\x00late"), (b"IEND", b"")])
WITH_EMPTY_CHUNK = rebuild([*split_chunks(SPLIT)[:-1], (b"prVt", b""), (b"IEND", b"")])


def first_idat(data: bytes) -> int:
    return data.index(b"IDAT") - 4


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "intact": lambda d: d,
    "bit flipped in the image data": lambda d: flip(d, first_idat(d) + 20),
    "bit flipped in an IDAT checksum": lambda d: flip(
        d, first_idat(d) + 8 + int.from_bytes(d[first_idat(d) : first_idat(d) + 4], "big")
    ),
    "bit flipped in the last chunk's data": lambda d: flip(d, len(d) - 12 - 5),
    "chunk type not letters": lambda d: d[: first_idat(d) + 4] + b"ID T" + d[first_idat(d) + 8 :],
    "chunk length too long": lambda d: d[: first_idat(d)] + (1 << 30).to_bytes(4, "big") + d[first_idat(d) + 4 :],
    "IEND missing": lambda d: d[:-12],
    "IEND's checksum wrong (Pillow never reads it)": lambda d: d[:-4] + b"\x00\x00\x00\x00",
    "IEND cut to its type": lambda d: d[:-4],
    "trailing bytes after IEND": lambda d: d + b"\x00" * 8,
    "long trailer after IEND": lambda d: d + b"junk" * 10,
    "chunk after IEND": lambda d: d + chunk(b"tEXt", b"a\x00b"),
    "chunk's checksum cut off": lambda d: d[
        : first_idat(d) + 8 + int.from_bytes(d[first_idat(d) : first_idat(d) + 4], "big") + 2
    ],
}


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
@pytest.mark.parametrize(
    "png",
    [GOOD, SPLIT, WITH_TEXT_AFTER_DATA, WITH_EMPTY_CHUNK],
    ids=["one IDAT", "several IDAT", "text chunk after the data", "empty private chunk"],
)
def test_the_chunk_walk_agrees_with_pillows_verify(png: bytes, damage: str) -> None:
    damaged = DAMAGES[damage](png)
    assert we_accept(damaged) == pillow_accepts(damaged)


def test_the_intact_files_are_accepted_and_each_damage_to_the_data_is_refused() -> None:
    for png in (GOOD, SPLIT, WITH_TEXT_AFTER_DATA, WITH_EMPTY_CHUNK):
        assert check_image(png, **LIMITS)[0] == "image/png"
        for damage in ("bit flipped in the image data", "bit flipped in an IDAT checksum", "IEND missing"):
            with pytest.raises(BadImage, match="corrupt or truncated"):
                check_image(DAMAGES[damage](png), **LIMITS)


def test_a_png_cut_anywhere_is_refused_as_truncated_like_pillow_refuses_it() -> None:
    # Cut inside the first data chunk's header, the file does not open at all (Pillow's open() refuses it); cut
    # inside IEND's checksum, both accept it (neither reads that checksum).
    for cut in range(first_idat(SPLIT) + 8, len(SPLIT) - 4):
        data = SPLIT[:cut]
        assert not pillow_accepts(data)
        with pytest.raises(BadImage, match="truncated"):
            check_image(data, **LIMITS)


def test_random_damage_is_judged_as_pillow_judges_it() -> None:
    rng = random.Random(22)
    for _ in range(400):
        data = bytearray(rng.choice((GOOD, SPLIT, WITH_TEXT_AFTER_DATA)))
        start = first_idat(bytes(data))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(start, len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(start, len(data)) :]
        assert we_accept(bytes(data)) == pillow_accepts(bytes(data))


def test_a_large_png_is_walked_whole() -> None:
    big = noise_png(700, compress_level=1)
    assert check_image(big, **LIMITS)[1:] == (700, 700)
    damaged = flip(big, len(big) // 2)
    with pytest.raises(BadImage, match="bad checksum"):
        check_image(damaged, **LIMITS)


def test_a_png_without_image_data_is_refused_as_pillow_refused_it() -> None:
    header = (10).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    empty = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    assert not pillow_accepts(empty)
    with pytest.raises(BadImage, match="no image data"):
        check_image(empty, **LIMITS)
