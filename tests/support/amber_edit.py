"""An object-removal edit the judges leave amber, for the review pages' edit views: the removed object's place filled
with a flat patch (one moderate failure), nothing changed outside the mask."""

from __future__ import annotations

from tests.conftest import FIXTURES

_FOLDER = FIXTURES / "object-removal" / "accuracy"


def amber_edit_files() -> dict[str, tuple[str, bytes, str]]:
    """The multipart files of ``POST /v1/evaluations`` for that edit (task object-removal)."""
    return {
        "image": ("result.jpg", (_FOLDER / "lawn-smear.jpg").read_bytes(), "image/jpeg"),
        "source": ("source.jpg", (_FOLDER / "lawn-source.jpg").read_bytes(), "image/jpeg"),
        "mask": ("mask.png", (_FOLDER / "lawn-mask.png").read_bytes(), "image/png"),
    }
