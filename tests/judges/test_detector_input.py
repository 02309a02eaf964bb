"""The detector's input is built by table lookup: exactly the values RapidOCR's own preprocessing computes, in a
quarter of its CPU."""

from __future__ import annotations

import numpy as np
import pytest
from rapidocr.ch_ppocr_det.utils import DetPreProcess

from sentinel.evaluation.judges import text
from tests.judges.test_ocr_models import _marked_photo


def _rapidocr_input(engine: object, page: np.ndarray) -> np.ndarray:
    detector = engine._load_det_model()  # type: ignore[attr-defined]
    own = DetPreProcess(detector.limit_side_len, detector.limit_type, detector.mean, detector.std)
    return own(page)


@pytest.mark.parametrize("shape", [(1024, 1024), (768, 1024), (300, 97), (40, 700), (20, 700)])
def test_the_detector_sees_exactly_the_input_rapidocr_would_give_it(shape: tuple[int, int]) -> None:
    photo = _marked_photo()
    page = np.ascontiguousarray(np.resize(photo, (*shape, 3)))
    with text._ocr_engine() as engine:
        made = engine._load_det_model().get_preprocess()
        assert isinstance(made, text._TabledDetectorInput)
        tabled = made(page)
        expected = _rapidocr_input(engine, page)
    if expected is None:  # a strip that rounds to no rows at the detector's scale: not detected at all
        assert tabled is None
        return
    assert tabled is not None and tabled.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(tabled, expected)


def test_a_page_of_other_values_than_bytes_goes_through_rapidocr_s_own_preprocessing() -> None:
    floats = np.full((64, 64, 3), 0.25, dtype=np.float32)
    with text._ocr_engine() as engine:
        made = engine._load_det_model().get_preprocess()
        np.testing.assert_array_equal(made(floats), _rapidocr_input(engine, floats))
