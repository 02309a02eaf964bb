"""The crossing-band measure's running median picks each window's middle directly: it must give np.nanmedian's
numbers exactly, the short windows at both ends included, or a bar near a fill's edge would be judged differently."""

import numpy as np
import pytest

from sentinel.evaluation.judges.edit import _running_median


def _nanmedian_reference(values: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(values, ((half, half), (0, 0)), constant_values=np.nan)
    return np.nanmedian(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0), axis=-1)


@pytest.mark.parametrize("rows", [12, 13, 40, 97, 256])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_running_median_is_nanmedian_of_each_window(rows: int, dtype: type) -> None:
    rng = np.random.default_rng(rows)
    values = rng.normal(0, 20, (rows, 6)).astype(dtype)
    values[::5] = np.round(values[::5])  # ties
    half = max(6, rows // 4)
    assert np.array_equal(_running_median(values, half), _nanmedian_reference(values, half))
