"""The inputs an evaluation takes besides its image (an edit's source and mask), and the checks on them that the
API, jobs, the gateway and the CLI share. Light on purpose: the CLI judges without the database layer."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator

from sentinel.errors import InvalidInput
from sentinel.evaluation.rubric import Rubric
from sentinel.store.images import ImageInfo

#: The inputs besides the image, in the order a rubric lists them.
EDIT_INPUTS = ("source", "mask")


def check_mask_fits(images: dict[str, ImageInfo]) -> None:
    """A mask marks pixels of its source: one of another size marks nothing for sure, so it is refused up front."""
    source, mask = images.get("source"), images.get("mask")
    if source is None or mask is None or (source.width, source.height) == (mask.width, mask.height):
        return
    raise InvalidInput(
        f"the mask is {mask.width}×{mask.height} but the source is {source.width}×{source.height}; "
        "a mask must have its source's size",
        field="mask",
    )


def check_edit_inputs(rubric: Rubric, given: Collection[str]) -> None:
    """An edit task needs its source and mask, and a task that edits nothing takes neither (``given`` names the
    images sent)."""
    for name in EDIT_INPUTS:
        if name in rubric.inputs and name not in given:
            role = "the original before the edit" if name == "source" else "white marks the edited region"
            raise InvalidInput(f"task '{rubric.id}' needs a '{name}' image ({role})", field=name)
        if name not in rubric.inputs and name in given:
            raise InvalidInput(f"task '{rubric.id}' takes no '{name}' image", field=name)


@contextlib.contextmanager
def named_as_urls() -> Iterator[None]:
    """Errors about which images were sent, in a JSON body's words: it sends ``source_url``, not a ``source`` file
    (the error named the multipart field, which the caller had not used)."""
    try:
        yield
    except InvalidInput as exc:
        if exc.field not in ("image", "source", "mask"):
            raise
        url = f"{exc.field}_url"
        raise InvalidInput(exc.message.replace(f"'{exc.field}' image", f"'{url}' image"), field=url) from exc
