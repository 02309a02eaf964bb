"""What `sentinel bench load` judges: photo-like scenes by default (the offline judges do a photograph's work on
them), the old flat picture with `--scene plain`, or the PNG and JPEG files of a folder with `--images`; a folder it
cannot use is a usage error before anything starts. And `bench judges` (whose timing `bench load` reuses) times a
picture's OCR read on every run, not a page remembered from the run before."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from sentinel.bench.judges import _png, time_task
from sentinel.bench.load import DEFAULT_SCENE, folder_images, sample_image
from sentinel.bench.scenes import photo_scene
from sentinel.evaluation.judges.base import luminance
from sentinel.store.images import decode_rgb, inspect_image
from sentinel.wiring import get_services
from tests.conftest import REPO, clean_env

SENTINEL = str(REPO / ".venv" / "bin" / "sentinel")


def test_the_load_judges_photo_like_scenes_unless_told_otherwise() -> None:
    assert DEFAULT_SCENE == "photo"
    photo = np.asarray(Image.open(io.BytesIO(sample_image(256, 3))))
    plain = np.asarray(Image.open(io.BytesIO(sample_image(256, 3, "plain"))))
    # A photograph has texture everywhere; the old picture is flat but for two shapes' edges.
    assert np.abs(np.diff(luminance(photo), axis=1)).mean() > 4 * np.abs(np.diff(luminance(plain), axis=1)).mean()
    assert len(np.unique(photo.reshape(-1, 3), axis=0)) > 1000 > len(np.unique(plain.reshape(-1, 3), axis=0))


def test_a_scene_is_the_same_picture_for_the_same_seed_and_another_for_another() -> None:
    assert sample_image(128, 5) == sample_image(128, 5)
    assert sample_image(128, 5) != sample_image(128, 6)


def test_a_folder_of_pictures_is_judged_png_and_jpeg_alike(tmp_path: Path) -> None:
    photo_scene(64, 1).save(tmp_path / "b.jpg", "JPEG")
    photo_scene(64, 2).save(tmp_path / "a.png", "PNG")
    (tmp_path / "notes.txt").write_text("not a picture")
    images = folder_images(tmp_path)
    assert [(i.name, i.mime) for i in images] == [("a.png", "image/png"), ("b.jpg", "image/jpeg")]


def test_a_folder_the_load_cannot_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    misnamed = tmp_path / "misnamed"
    misnamed.mkdir()
    photo_scene(64, 1).save(misnamed / "photo.png", "JPEG")
    for folder, said in [
        (tmp_path / "missing", "is not a folder"),
        (empty, "holds no .png, .jpg or .jpeg file"),
        (broken, "cannot be read as a PNG or JPEG picture"),
        (misnamed, "is image/jpeg, not the image/png its name says"),
    ]:
        result = subprocess.run(
            [SENTINEL, "bench", "load", "--seconds", "5", "--images", str(folder)],
            capture_output=True, text=True, env=clean_env(), timeout=60,
        )  # fmt: skip
        assert result.returncode == 2 and said in result.stderr, (folder, result.stderr)


def test_an_unknown_scene_is_a_usage_error() -> None:
    result = subprocess.run(
        [SENTINEL, "bench", "load", "--seconds", "5", "--scene", "sunset"],
        capture_output=True, text=True, env=clean_env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "--scene takes photo or plain" in result.stderr, result.stderr


def test_every_timed_run_reads_the_picture_again() -> None:
    # A picture with a sign: the OCR model work of a run is that of a first read, never less because the run before
    # left its page remembered.
    image = _png(photo_scene(512, 0))
    first = time_task(get_services(), "text-to-image", {"image": image}, {}, 1, 512, 0)
    again = time_task(get_services(), "text-to-image", {"image": image}, {}, 2, 512, 1)
    assert first.ocr_detections >= 2  # the page, then the watermark read of its middle
    assert again.ocr_detections == first.ocr_detections


def test_each_submission_is_a_file_of_its_own_with_the_same_pixels(tmp_path: Path) -> None:
    # A worker remembers the OCR pages of the pictures it read by their id: a cycled file would skip the OCR.
    photo_scene(128, 1).save(tmp_path / "a.png", "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed turned a quarter: the comment must leave the EXIF where readers find it
    photo_scene(128, 2).resize((128, 96)).save(tmp_path / "b.jpg", "JPEG", exif=exif)
    for image in folder_images(tmp_path):
        first, second = image.submission(1), image.submission(2)
        assert len({image.data, first, second}) == 3
        originals = inspect_image(image.data, max_bytes=10**8, max_pixels=10**8)
        for sent in (first, second):
            info = inspect_image(sent, max_bytes=10**8, max_pixels=10**8)
            assert info.sha256 != originals.sha256
            assert np.array_equal(decode_rgb(sent, max_pixels=10**8), decode_rgb(image.data, max_pixels=10**8))
