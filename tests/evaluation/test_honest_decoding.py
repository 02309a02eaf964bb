"""Inputs are decoded honestly: a JPEG cut short is not judged as a picture with a grey band, a 16-bit photo is
scaled rather than clipped to white, and a mask that does not fit its source is refused with both sizes."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data as photos

from sentinel.errors import BadImage
from sentinel.evaluation.local import evaluate_files
from sentinel.store.images import decode_rgb
from sentinel.wiring import get_services
from tests.conftest import SENTINEL, png_bytes

MAX_PIXELS = 40_000_000


def jpeg(rgb: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def cut_short_with_end_marker(data: bytes, share: float = 0.5) -> bytes:
    """What a dropped download looks like after a careless re-encoder: half the data, then the end-of-image marker."""
    return data[: int(len(data) * share)] + b"\xff\xd9"


def png16(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


def judge(task: str, image: bytes, params: dict | None = None) -> dict:
    [(_, result)] = list(evaluate_files(get_services(), task, params or {}, [(Path("x"), image)], {}))
    return result


def test_a_jpeg_cut_short_is_refused_as_truncated_not_decoded_grey() -> None:
    whole = jpeg(photos.astronaut())
    with pytest.raises(BadImage, match=r"truncated: the JPEG's data ends early and its last \d+ of 512 rows"):
        decode_rgb(cut_short_with_end_marker(whole), max_pixels=MAX_PIXELS)
    assert decode_rgb(whole, max_pixels=MAX_PIXELS).shape == (512, 512, 3)


def test_a_truncated_jpeg_fails_the_critical_decodes_criterion_and_is_red() -> None:
    result = judge("text-to-image", cut_short_with_end_marker(jpeg(photos.chelsea())), {"width": 451, "height": 300})
    assert result["verdict"] == "red"
    decodes = next(c for j in result["judges"] for c in j["criteria"] if c["id"] == "decodes")
    assert (decodes["passed"], decodes["severity"]) == (False, "severe")
    assert "truncated" in decodes["detail"]


@pytest.mark.parametrize("subsampling", [0, 2])
@pytest.mark.parametrize(
    "subject",
    [
        lambda draw: draw.ellipse((150, 150, 450, 450), fill=(20, 20, 220)),
        lambda draw: draw.rectangle((100, 100, 400, 380), fill=(200, 40, 40)),
        lambda draw: draw.rectangle((0, 0, 333, 400), fill=(40, 160, 40)),
    ],
    ids=["round", "box", "box-at-the-edge"],
)
def test_a_subject_on_a_backdrop_of_the_fill_grey_is_a_whole_picture_not_a_cut_file(subject, subsampling) -> None:
    # A product on a mid-grey (#808080) backdrop: the grey below and beside it is the picture's, not missing data.
    image = Image.new("RGB", (600, 600), (128, 128, 128))
    subject(ImageDraw.Draw(image))
    data = jpeg(np.asarray(image), subsampling=subsampling)
    assert decode_rgb(data, max_pixels=MAX_PIXELS).shape == (600, 600, 3)


@pytest.mark.parametrize("subsampling", [0, 1, 2])
@pytest.mark.parametrize("share", [0.3, 0.5, 0.9])
def test_jpegs_cut_short_anywhere_are_refused(subsampling: int, share: float) -> None:
    data = cut_short_with_end_marker(jpeg(photos.coffee(), subsampling=subsampling), share)
    with pytest.raises(BadImage, match="truncated"):
        decode_rgb(data, max_pixels=MAX_PIXELS)


def test_a_photo_whose_bottom_rows_are_merely_dark_grey_still_decodes() -> None:
    rgb = photos.coffee().copy()
    rgb[-40:] = 120  # flat, but not the decoder's fill grey
    assert decode_rgb(jpeg(rgb), max_pixels=MAX_PIXELS).shape == rgb.shape


def test_a_picture_painted_the_fill_grey_is_a_cut_off_generation_not_a_cut_file() -> None:
    """The same grey a decoder fills in, painted over the bottom half: the file is whole, the picture is not."""
    rgb = photos.astronaut().copy()
    rgb[256:] = 128
    data = jpeg(rgb)
    assert decode_rgb(data, max_pixels=MAX_PIXELS).shape == rgb.shape
    result = judge("text-to-image", data, {"width": 512, "height": 512})
    assert result["verdict"] == "red"
    # One issue, in its own words: the band's edge is not also reported as a seam between stitched pictures.
    assert [i["criterion"] for i in result["issues"]] == ["not-truncated"], result["summary"]
    assert "the bottom 50% is a flat #808080 band" in result["summary"]
    assert "JPEG's data ends early" not in result["summary"]


def test_a_16_bit_gradient_is_scaled_not_clipped() -> None:
    gradient = np.tile(np.linspace(0, 65535, 512), (512, 1))
    rgb = decode_rgb(png16(gradient), max_pixels=MAX_PIXELS)
    assert rgb.min() == 0 and rgb.max() == 255
    assert abs(float(rgb.mean()) - 127.5) < 1


def test_a_16_bit_greyscale_photo_is_judged_as_the_photo_it_is() -> None:
    camera = photos.camera().astype(np.uint32) * 257
    result = judge("text-to-image", png16(camera), {"width": 512, "height": 512})
    failing = [c for j in result["judges"] for c in j["criteria"] if not c["passed"]]
    assert not [c for c in failing if c["id"] in ("not-blank", "exposure")], result["summary"]
    assert np.array_equal(decode_rgb(png16(camera), max_pixels=MAX_PIXELS)[..., 0], photos.camera())


def test_a_mask_of_another_size_is_a_400_naming_both_sizes(client) -> None:
    response = client.post(
        "/v1/evaluations",
        data={"task": "object-removal"},
        files={
            "image": ("r.png", png_bytes(256, 192), "image/png"),
            "source": ("s.png", png_bytes(256, 192), "image/png"),
            "mask": ("m.png", png_bytes(128, 96), "image/png"),
        },
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "mask"
    assert "the mask is 128×96 but the source is 256×192" in error["message"]


def test_the_cli_refuses_a_mask_of_another_size_with_exit_2(tmp_path: Path) -> None:
    for name, size in (("result", (256, 192)), ("source", (256, 192)), ("mask", (200, 200))):
        (tmp_path / f"{name}.png").write_bytes(png_bytes(*size))
    proc = subprocess.run(
        [
            *(SENTINEL, "eval", str(tmp_path / "result.png"), "--task", "object-removal", "--json"),
            *("--source", str(tmp_path / "source.png"), "--mask", str(tmp_path / "mask.png")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the mask is 200×200 but the source is 256×192" in proc.stderr
    assert not proc.stdout.strip() or "verdict" not in json.loads(proc.stdout or "{}")
