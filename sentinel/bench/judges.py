"""``sentinel bench judges``: the time `sentinel eval` takes per image, per task, size and judge, against the time
to decode the PNG.

Each step is timed twice: on the wall clock, and in CPU time of the whole process (``time.process_time``: every
thread, OCR's included). The machine a benchmark runs on is often shared, and the wall clock then counts other
programs' work; the CPU time is what an evaluation costs a worker whatever else runs."""

from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import astronaut
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.judges.text import forget_pages
from sentinel.evaluation.judges.text import kind as ocr_kind
from sentinel.evaluation.judges.text import model_calls as ocr_model_calls
from sentinel.evaluation.runner import run_judge
from sentinel.evaluation.verdict import aggregate
from sentinel.services import Services
from sentinel.store.images import decode_rgb, decoded_pixels, inspect_image

SIDE = 1024


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _scaled(image: Image.Image, side: int) -> bytes:
    if side == SIDE:
        return _png(image)
    resample = Image.Resampling.NEAREST if image.mode == "L" else Image.Resampling.LANCZOS
    return _png(image.resize((side, side), resample))


def sample_inputs(side: int = SIDE) -> dict[str, tuple[dict[str, bytes], dict[str, Any]]]:
    """A ``side``×``side`` PNG for each built-in task, with its source/mask and params (drawn at 1024², scaled)."""
    photo = astronaut()
    product = Image.new("RGB", (SIDE, SIDE), "white")
    cutout = astronaut(900)
    disc = Image.new("L", cutout.size, 0)
    ImageDraw.Draw(disc).ellipse((0, 0, 899, 899), fill=255)
    product.paste(cutout, (62, 62), disc)
    sign = Image.new("RGB", (SIDE, SIDE), (240, 235, 220))
    ImageDraw.Draw(sign).text((SIDE // 2, SIDE // 2), "OPEN 24/7", fill="black", font=_font(150), anchor="mm")
    tagged = photo.copy()
    ImageDraw.Draw(tagged).rectangle((600, 600, 850, 760), fill=(220, 20, 20))
    mask = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(mask).rectangle((590, 590, 860, 770), fill=255)
    subject_mask = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(subject_mask).ellipse((200, 150, 820, 1000), fill=255)
    replaced = Image.new("RGB", (SIDE, SIDE), "white")
    replaced.paste(photo, (0, 0), subject_mask)
    return {
        "text-to-image": ({"image": _scaled(photo, side)}, {"width": side, "height": side}),
        "product-white-background": ({"image": _scaled(product, side)}, {}),
        "text-render": ({"image": _scaled(sign, side)}, {"text": "OPEN 24/7"}),
        "object-removal": (
            {"image": _scaled(photo, side), "source": _scaled(tagged, side), "mask": _scaled(mask, side)},
            {},
        ),
        "background-replace": (
            {"image": _scaled(replaced, side), "source": _scaled(photo, side), "mask": _scaled(subject_mask, side)},
            {"color": "#ffffff"},
        ),
    }


@dataclass
class TaskTiming:
    task: str
    side: int
    runs: int
    verdict: str
    total_ms: float
    decode_ms: float
    judges_ms: dict[str, float]
    #: Decoding every input (an edit's source and mask too): what the panel can not do with less.
    inputs_decode_ms: float = 0.0
    #: The time of the judges that run OCR, reported apart from the rest of the panel's.
    ocr_ms: float = 0.0
    #: The same in CPU time of the process: the whole evaluation, each judge, the image's decode, the OCR judges.
    cpu_ms: float = 0.0
    judges_cpu_ms: dict[str, float] = field(default_factory=dict)
    decode_cpu_ms: float = 0.0
    ocr_cpu_ms: float = 0.0
    inputs_decode_cpu_ms: float = 0.0
    #: OCR model work per evaluation: text detector runs and lines recognised (0 where no criterion needs OCR or
    #: the picture holds no place for text).
    ocr_detections: float = 0.0
    ocr_lines: float = 0.0

    @property
    def judges_share(self) -> float:
        return sum(self.judges_ms.values()) / self.total_ms if self.total_ms else 0.0


def time_task(
    services: Services, task: str, files: dict[str, bytes], params: dict[str, Any], runs: int, side: int, warm_up: int
) -> TaskTiming:
    """What `sentinel eval` does per image, judges one after another so their costs add up honestly."""
    rubric = services.rubrics.get(task)
    judges = services.panel.for_rubric(rubric)
    max_pixels = services.settings.max_image_pixels
    totals: list[float] = []
    decodes: list[float] = []
    input_decodes: list[float] = []
    per_judge: dict[str, list[float]] = {j.name: [] for j in judges}
    cpu_totals: list[float] = []
    cpu_decodes: list[float] = []
    cpu_input_decodes: list[float] = []
    cpu_per_judge: dict[str, list[float]] = {j.name: [] for j in judges}
    detections: list[int] = []
    lines: list[int] = []
    verdict = ""
    for _ in range(runs + warm_up):  # warm-up runs load OCR engines and imports; they are not counted
        decoded_pixels.clear()
        # Each run reads the picture: a page remembered from the run before cost a look-up, not its OCR (a photo's
        # text judge measured ~140 ms of CPU so, where it spends ~250 ms judged once).
        forget_pages()
        started, cpu_started = time.perf_counter(), time.process_time()
        detected, recognised = ocr_model_calls["detect"], ocr_model_calls["recognise"]
        sources = {}
        for name, data in files.items():
            info = inspect_image(data, max_bytes=services.settings.max_image_bytes, max_pixels=max_pixels)
            sources[name] = ImageSource(info.sha256, info.mime, lambda data=data: data, max_pixels)
        votes = []
        for judge in judges:
            ctx = JudgeContext(
                image=sources["image"],
                params=params,
                source=sources.get("source"),
                mask=sources.get("mask"),
                options=dict(judge.options),
            )
            judge_started, judge_cpu_started = time.perf_counter(), time.process_time()
            votes.append(run_judge(judge, rubric, ctx))
            per_judge[judge.name].append((time.perf_counter() - judge_started) * 1000)
            cpu_per_judge[judge.name].append((time.process_time() - judge_cpu_started) * 1000)
        verdict = aggregate(rubric, [j.name for j in judges], votes, len(judges)).verdict
        totals.append((time.perf_counter() - started) * 1000)
        cpu_totals.append((time.process_time() - cpu_started) * 1000)
        detections.append(ocr_model_calls["detect"] - detected)
        lines.append(ocr_model_calls["recognise"] - recognised)
        decode_started, decode_cpu_started = time.perf_counter(), time.process_time()
        decode_rgb(files["image"], max_pixels=max_pixels)
        decodes.append((time.perf_counter() - decode_started) * 1000)
        cpu_decodes.append((time.process_time() - decode_cpu_started) * 1000)
        for name, data in files.items():
            if name != "image":
                decode_rgb(data, max_pixels=max_pixels)
        input_decodes.append((time.perf_counter() - decode_started) * 1000)
        cpu_input_decodes.append((time.process_time() - decode_cpu_started) * 1000)
    return TaskTiming(
        task=task,
        side=side,
        runs=runs,
        verdict=verdict,
        total_ms=statistics.median(totals[warm_up:]),
        decode_ms=statistics.median(decodes[warm_up:]),
        judges_ms={name: statistics.median(values[warm_up:]) for name, values in per_judge.items()},
        inputs_decode_ms=statistics.median(input_decodes[warm_up:]),
        ocr_ms=sum(statistics.median(per_judge[j.name][warm_up:]) for j in judges if j.kind == ocr_kind.name),
        cpu_ms=statistics.median(cpu_totals[warm_up:]),
        judges_cpu_ms={name: statistics.median(values[warm_up:]) for name, values in cpu_per_judge.items()},
        decode_cpu_ms=statistics.median(cpu_decodes[warm_up:]),
        ocr_detections=statistics.median(detections[warm_up:]),
        ocr_lines=statistics.median(lines[warm_up:]),
        ocr_cpu_ms=sum(statistics.median(cpu_per_judge[j.name][warm_up:]) for j in judges if j.kind == ocr_kind.name),
        inputs_decode_cpu_ms=statistics.median(cpu_input_decodes[warm_up:]),
    )


def runs_for(side: int, runs: int) -> int:
    """Fewer repetitions above 1024² (a 2048² image costs about four times as much)."""
    return runs if side <= SIDE else max(1, runs // 2)


def bench_judges(
    services: Services, runs: int, sides: list[int] | None = None, progress: Progress = quiet
) -> list[TaskTiming]:
    timings = []
    for index, side in enumerate(sides or [SIDE]):
        for task, (files, params) in sample_inputs(side).items():
            # one warm-up run per task, at the first size only (OCR models and imports load once)
            timings.append(time_task(services, task, files, params, runs_for(side, runs), side, int(index == 0)))
            progress(f"{side}² {task}: {timings[-1].total_ms:.0f} ms median, {timings[-1].verdict}")
    return timings


def as_rows(timings: list[TaskTiming]) -> list[dict[str, Any]]:
    return [
        {
            "task": t.task,
            "side": t.side,
            "runs": t.runs,
            "verdict": t.verdict,
            "median_ms": round(t.total_ms, 1),
            "png_decode_ms": round(t.decode_ms, 1),
            "judges_ms": {k: round(v, 1) for k, v in t.judges_ms.items()},
            "judges_share": round(t.judges_share, 3),
            "decode_multiple": round(t.total_ms / t.decode_ms, 1) if t.decode_ms else None,
            "ocr_ms": round(t.ocr_ms, 1),
            "decode_multiple_without_ocr": round((t.total_ms - t.ocr_ms) / t.decode_ms, 1) if t.decode_ms else None,
            "inputs_decode_ms": round(t.inputs_decode_ms, 1),
            "cpu_ms": round(t.cpu_ms, 1),
            "png_decode_cpu_ms": round(t.decode_cpu_ms, 1),
            "decode_multiple_cpu": round(t.cpu_ms / t.decode_cpu_ms, 1) if t.decode_cpu_ms else None,
            "inputs_decode_cpu_ms": round(t.inputs_decode_cpu_ms, 1),
            "judges_cpu_ms": {k: round(v, 1) for k, v in t.judges_cpu_ms.items()},
            "ocr_cpu_ms": round(t.ocr_cpu_ms, 1),
            "ocr_detections": t.ocr_detections,
            "ocr_lines": t.ocr_lines,
            "clocks": CLOCKS,
        }
        for t in timings
    ]


#: What each kind of figure in a row measures (written into every row, so a JSON file read alone says it).
CLOCKS = {
    "*_ms, decode_multiple": "wall clock: elapsed time, which other work on a shared machine inflates",
    "*_cpu_ms, decode_multiple_cpu": "CPU time of the process, every thread (OCR's included): what it costs a worker",
}
