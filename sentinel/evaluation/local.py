"""Evaluating files in-process (the CLI): the same panel and verdict rule, no database or broker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sentinel.errors import InvalidInput
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.panel import JudgeConfig
from sentinel.evaluation.rubric import validate_params
from sentinel.evaluation.runner import VoteResult, run_judge, run_panel
from sentinel.evaluation.service import EDIT_INPUTS, check_mask_fits
from sentinel.evaluation.vision.judge import Exchange
from sentinel.services import Services
from sentinel.store.images import ImageInfo


def _source(info: ImageInfo, data: bytes, max_pixels: int) -> ImageSource:
    return ImageSource(sha256=info.sha256, mime=info.mime, load_bytes=lambda: data, max_pixels=max_pixels)


def evaluate_files(
    services: Services,
    task: str,
    params: dict[str, Any],
    images: list[tuple[Path, bytes]],
    extra: dict[str, bytes],
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Validate everything first, then yield (path, verdict document) per image."""
    rubric = services.rubrics.get(task)
    clean = validate_params(rubric, params)
    for name in EDIT_INPUTS:
        if name in rubric.inputs and name not in extra:
            raise InvalidInput(f"task '{task}' needs --{name} PATH", field=name)
        if name not in rubric.inputs and name in extra:
            raise InvalidInput(f"task '{task}' takes no --{name}", field=name)
    max_pixels = services.settings.max_image_pixels
    infos = {name: services.images.inspect(data, name) for name, data in extra.items()}
    check_mask_fits(infos)
    sources = {name: _source(infos[name], data, max_pixels) for name, data in extra.items()}
    checked = [(path, services.images.inspect(data, f"image {path}"), data) for path, data in images]
    for path, info, data in checked:
        image = _source(info, data, max_pixels)

        def context(judge: JudgeConfig, image: ImageSource = image) -> JudgeContext:
            return JudgeContext(
                image=image,
                params=clean,
                source=sources.get("source"),
                mask=sources.get("mask"),
                options=dict(judge.options),
            )

        verdict, _ = run_panel(services.panel, rubric, context, services.settings.quorum)
        yield path, {"task": rubric.id, "params": clean, **verdict.to_dict()}


def try_judge(
    services: Services, judge_name: str, task: str, params: dict[str, Any], image: bytes, extra: dict[str, bytes]
) -> tuple[VoteResult, list[Exchange]]:
    """One judge's vote on one image, with the requests it sent and the replies it got (vision judges)."""
    panel = services.panel
    known = [j.name for j in panel.judges]
    if judge_name not in known:
        raise InvalidInput(f"no judge named '{judge_name}'; the panel has: {', '.join(known)}", field="judge")
    judge = panel.get(judge_name)
    rubric = services.rubrics.get(task)
    if judge.owns not in rubric.judge_kinds():
        raise InvalidInput(f"judge '{judge_name}' ({judge.kind}) has no criteria to vote on in task '{task}'")
    clean = validate_params(rubric, params)
    max_pixels = services.settings.max_image_pixels
    infos = {name: services.images.inspect(data, name) for name, data in extra.items()}
    check_mask_fits(infos)
    sources = {name: _source(infos[name], data, max_pixels) for name, data in extra.items()}
    context = JudgeContext(
        image=_source(services.images.inspect(image, "image"), image, max_pixels),
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
