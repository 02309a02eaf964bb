"""Evaluating files in-process (the CLI): the same panel and verdict rule, no database or broker.

Nothing here (or below it) imports the database layer, the web framework or the broker: `sentinel eval` loads only
what judging needs, and starts in a fraction of the time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sentinel.errors import InvalidInput
from sentinel.evaluation.inputs import EDIT_INPUTS, check_mask_fits
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.panel import JudgeConfig, Panel
from sentinel.evaluation.rubric import Rubric, validate_params
from sentinel.evaluation.runner import VoteResult, run_judge, run_panel
from sentinel.evaluation.vision.judge import Exchange
from sentinel.settings import Settings
from sentinel.store.images import ImageInfo, inspect_image
from sentinel.store.mask_region import check_marks_region

if TYPE_CHECKING:
    from sentinel.rubrics.loader import RubricRegistry


class Judging(Protocol):
    """What judging in-process needs: the settings, the tasks and the panel (:class:`sentinel.services.Services`
    has them, and so does the CLI's lighter kit)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def rubrics(self) -> RubricRegistry: ...

    @property
    def panel(self) -> Panel: ...


@dataclass(frozen=True)
class Prepared:
    """A task with its params checked and its edit inputs (source, mask) read: what every image of it shares."""

    rubric: Rubric
    params: dict[str, Any]
    sources: dict[str, ImageSource]


def _source(info: ImageInfo, data: bytes, max_pixels: int) -> ImageSource:
    return ImageSource(sha256=info.sha256, mime=info.mime, load_bytes=lambda: data, max_pixels=max_pixels)


def inspect(judging: Judging, data: bytes, field: str) -> ImageInfo:
    """Validate untrusted bytes against the size limits; raises BadImage / ImageTooLarge naming ``field``."""
    settings = judging.settings
    return inspect_image(data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels, field=field)


def prepare(judging: Judging, task: str, params: dict[str, Any], extra: dict[str, bytes]) -> Prepared:
    """Check the task, its params and its edit inputs once for every image judged with them."""
    rubric = judging.rubrics.get(task)
    judging.panel.check_can_judge(rubric)
    clean = validate_params(rubric, params)
    for name in EDIT_INPUTS:
        if name in rubric.inputs and name not in extra:
            raise InvalidInput(f"task '{task}' needs --{name} PATH", field=name)
        if name not in rubric.inputs and name in extra:
            raise InvalidInput(f"task '{task}' takes no --{name}", field=name)
    max_pixels = judging.settings.max_image_pixels
    infos = {name: inspect(judging, data, name) for name, data in extra.items()}
    check_mask_fits(infos)
    if "mask" in extra:
        check_marks_region(extra["mask"], rubric.mask_marks, judged=True)
    sources = {name: _source(infos[name], data, max_pixels) for name, data in extra.items()}
    return Prepared(rubric, clean, sources)


def judge_image(judging: Judging, prepared: Prepared, data: bytes, info: ImageInfo | None = None) -> dict[str, Any]:
    """The verdict document of one image (``info``: its inspection, when already made)."""
    info = info or inspect(judging, data, "image")
    image = _source(info, data, judging.settings.max_image_pixels)

    def context(judge: JudgeConfig) -> JudgeContext:
        return JudgeContext(
            image=image,
            params=prepared.params,
            source=prepared.sources.get("source"),
            mask=prepared.sources.get("mask"),
            options=dict(judge.options),
        )

    verdict, _ = run_panel(judging.panel, prepared.rubric, context, judging.settings.quorum)
    return {"task": prepared.rubric.id, "params": prepared.params, **verdict.to_dict()}


def evaluate_files(
    judging: Judging,
    task: str,
    params: dict[str, Any],
    images: list[tuple[Path, bytes]],
    extra: dict[str, bytes],
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Validate everything first, then yield (path, verdict document) per image."""
    prepared = prepare(judging, task, params, extra)
    checked = [(path, inspect(judging, data, f"image {path}"), data) for path, data in images]
    for path, info, data in checked:
        yield path, judge_image(judging, prepared, data, info)


def try_judge(
    judging: Judging, judge_name: str, task: str, params: dict[str, Any], image: bytes, extra: dict[str, bytes]
) -> tuple[VoteResult, list[Exchange]]:
    """One judge's vote on one image, with the requests it sent and the replies it got (vision judges)."""
    panel = judging.panel
    known = [j.name for j in panel.judges]
    if judge_name not in known:
        raise InvalidInput(f"no judge named '{judge_name}'; the panel has: {', '.join(known)}", field="judge")
    judge = panel.get(judge_name)
    rubric = judging.rubrics.get(task)
    if judge.owns not in rubric.judge_kinds():
        raise InvalidInput(f"judge '{judge_name}' ({judge.kind}) has no criteria to vote on in task '{task}'")
    clean = validate_params(rubric, params)
    max_pixels = judging.settings.max_image_pixels
    infos = {name: inspect(judging, data, name) for name, data in extra.items()}
    check_mask_fits(infos)
    sources = {name: _source(infos[name], data, max_pixels) for name, data in extra.items()}
    context = JudgeContext(
        image=_source(inspect(judging, image, "image"), image, max_pixels),
        params=clean,
        source=sources.get("source"),
        mask=sources.get("mask"),
        options=dict(judge.options),
    )
    vision = panel.vision.get(judge_name)
    if vision is None:
        return run_judge(judge, rubric, context), []
    started = time.perf_counter()
    voted = vision.vote(rubric, context)
    duration = (time.perf_counter() - started) * 1000
    vote = VoteResult(judge.name, voted.passed, voted.reasoning, voted.criteria, duration, voted.usage)
    return vote, voted.transcript
