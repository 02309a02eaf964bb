"""The text detector the engines load has its denormal weights zeroed (they made it three times slower on x86) and
finds exactly what the bundled model finds; the patched copy is made once and kept, and where it cannot be written
the bundled model is used as it is."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from sentinel.evaluation.judges import ocr_models, text
from sentinel.evaluation.judges.ocr_import import rapidocr_class

DENORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _tensor(name: str, data_type: int, raw: bytes) -> bytes:
    """An ONNX TensorProto: dims (1), data_type (2), name (8), raw_data (9)."""
    dims = _varint(1 << 3) + _varint(len(raw) // 4)
    return dims + _varint(2 << 3) + _varint(data_type) + _length_field(8, name.encode()) + _length_field(9, raw)


def _model(*tensors: bytes) -> bytes:
    """ModelProto with an ir_version (1) and a graph (7) holding the tensors as initializers (5)."""
    graph = _length_field(2, b"graph") + b"".join(_length_field(5, t) for t in tensors)
    return _varint(1 << 3) + _varint(8) + _length_field(7, graph)


def _floats(raw: bytes | bytearray, start: int, count: int) -> list[float]:
    return list(struct.unpack_from(f"<{count}f", raw, start))


def test_denormal_weights_are_zeroed_and_nothing_else_changes() -> None:
    weights = struct.pack("<5f", 0.25, DENORMAL, -DENORMAL, 0.0, -3.5e-38)
    int32s = struct.pack("<3i", 1, 2, 3)  # an INT32 tensor (data type 6) whose bits look like denormal floats
    model = _model(_tensor("w", 1, weights), _tensor("shape", 6, int32s))
    patched, flushed = ocr_models.flush_denormal_weights(model)
    assert flushed == 2
    assert len(patched) == len(model)
    at = bytes(patched).index(struct.pack("<f", 0.25))
    assert _floats(patched, at, 5) == [0.25, 0.0, 0.0, 0.0, pytest.approx(-3.5e-38)]
    assert bytes(patched)[:at] == model[:at] and bytes(patched)[at + 20 :] == model[at + 20 :]  # only the weights


def test_the_detector_the_engines_load_has_no_denormal_weights() -> None:
    detector = text.detector_model()
    assert detector is not None, "the bundled detector was not found"
    assert ocr_models.flush_denormal_weights(Path(detector).read_bytes())[1] == 0


def _bundled_engine() -> object:
    """An engine as RapidOCR makes it, with the detector exactly as the wheel ships it."""
    return rapidocr_class()(params=text.ENGINE_PARAMS)


def _marked_photo() -> np.ndarray:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 18, (64, 64, 3))
    base = np.clip(np.kron(noise, np.ones((16, 16, 1))) + np.linspace(60, 200, 1024)[:, None, None], 0, 255)
    picture = Image.fromarray(base.astype(np.uint8))
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.text((512, 500), "SAMPLE", font=ImageFont.load_default(size=160), fill=(255, 255, 255, 90), anchor="mm")
    draw.text((980, 990), "© Ann Lee 2024", font=ImageFont.load_default(size=26), fill=(10, 10, 10, 255), anchor="rb")
    marked = picture.convert("RGBA")
    marked.alpha_composite(layer)
    return np.asarray(marked.convert("RGB"))


def test_the_detector_without_denormals_finds_exactly_what_the_bundled_one_finds() -> None:
    photo = _marked_photo()
    bundled = _bundled_engine()
    options = {"use_det": True, "use_cls": False, "use_rec": False, "text_score": 0.0}
    for page in (photo, np.ascontiguousarray(photo[::2, ::2])):
        expected = bundled(page, **options)  # type: ignore[operator]
        with text._ocr_engine() as engine:
            found = engine(page, **options)
        assert expected.boxes is not None and found.boxes is not None
        np.testing.assert_array_equal(found.boxes, expected.boxes)
        np.testing.assert_array_equal(found.scores, expected.scores)


def test_the_patched_copy_is_made_once_and_then_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    original = tmp_path / "det.onnx"
    original.write_bytes(_model(_tensor("w", 1, struct.pack("<2f", 0.5, DENORMAL))))
    copy = ocr_models.without_denormals(original)
    assert copy != original and copy.is_relative_to(tmp_path / "cache")
    assert ocr_models.flush_denormal_weights(copy.read_bytes())[1] == 0
    made = copy.stat().st_mtime_ns
    assert ocr_models.without_denormals(original) == copy
    assert copy.stat().st_mtime_ns == made
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no half-written file left behind


def test_a_model_is_used_as_it_is_when_it_has_no_denormals_or_no_copy_can_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = tmp_path / "clean.onnx"
    clean.write_bytes(_model(_tensor("w", 1, struct.pack("<2f", 0.5, 1.0))))
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert ocr_models.without_denormals(clean) == clean
    slow = tmp_path / "slow.onnx"
    slow.write_bytes(_model(_tensor("w", 1, struct.pack("<2f", 0.5, DENORMAL))))
    assert ocr_models.without_denormals(slow) == slow


def test_a_damaged_copy_is_made_again_rather_than_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    original = tmp_path / "det.onnx"
    original.write_bytes(_model(_tensor("w", 1, struct.pack("<2f", 0.5, DENORMAL))))
    copy = ocr_models.without_denormals(original)
    good = copy.read_bytes()
    copy.write_bytes(bytes(len(good)))  # same size, every byte lost
    assert ocr_models.without_denormals(original) == copy
    assert copy.read_bytes() == good
