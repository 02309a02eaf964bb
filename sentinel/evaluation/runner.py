"""Running judges on one evaluation: one judge, the offline judges of a panel together (a worker's panel
message), and the whole panel in-process (CLI)."""

from __future__ import annotations

import concurrent.futures
import ctypes
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sentinel.errors import BadImage, SentinelError
from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.judges.base import (
    CriterionResult,
    JudgeContext,
    Outcome,
    OutOfTime,
    criterion_result,
    reasoning_for,
)
from sentinel.evaluation.panel import VISION_LLM, JudgeConfig, Panel
from sentinel.evaluation.rubric import Rubric
from sentinel.evaluation.verdict import Verdict, aggregate, disagreement, escalation_record
from sentinel.evaluation.vision.judge import JudgeFailed, VisionJudge, scrub
from sentinel.threadpools import shared_pool


class ProcessExiting(RuntimeError):
    """Judging could not start because the process is exiting (a worker still busy past its stop's grace period):
    the message is given back to be judged again, not failed."""


@dataclass
class VoteResult:
    judge: str
    #: None when the judge abstained; ``reasoning`` then says why.
    passed: bool | None
    reasoning: str
    criteria: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    #: Model judges only: model, calls, input/output tokens and estimated cost in USD.
    usage: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        body = {
            "judge": self.judge,
            "passed": self.passed,
            "reasoning": self.reasoning,
            "criteria": self.criteria,
            "duration_ms": round(self.duration_ms, 2),
        }
        if self.usage is not None:
            body["usage"] = self.usage
        return body


#: The operating system's name for the threads offline judges run on (``/proc/<pid>/task/<tid>/comm``, ``top -H``):
#: ``sentinel bench load`` counts their CPU as the judges', apart from the worker's own work.
JUDGE_THREAD_NAME = "sentinel-judge"
#: Offline judges run on threads kept from one message to the next: starting a thread per judge cost, every vote, a
#: clone and a stack mapped while holding the GIL (waiting behind the page faults of other judges' decodes), and the
#: stack's pages faulted in again. More threads than a process runs judges at once (worker threads x offline judges),
#: so a judge still at work past its limit (it stops at its next stage) does not hold up the next message's judges.
JUDGE_THREADS = 32


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` (15 bytes at most) where the operating system shows it (Linux only)."""
    if sys.platform.startswith("linux"):
        pr_set_name = 15
        ctypes.CDLL(None).prctl(pr_set_name, name.encode()[:15], 0, 0, 0)


def _judge_threads() -> concurrent.futures.ThreadPoolExecutor:
    # Each thread takes the judges' name where the operating system shows it as it starts (see JUDGE_THREAD_NAME).
    return shared_pool("judge", JUDGE_THREADS, initializer=name_os_thread, initargs=(JUDGE_THREAD_NAME,))


def abstention(judge: str, reason: str, duration_ms: float = 0.0) -> VoteResult:
    return VoteResult(judge=judge, passed=None, reasoning=f"abstained: {reason}", duration_ms=duration_ms)


def run_judge(judge: JudgeConfig, rubric: Rubric, ctx: JudgeContext, vision: VisionJudge | None = None) -> VoteResult:
    """One judge's vote on the criteria it owns. Errors become an abstention, never a pass."""
    started = time.perf_counter()
    if judge.kind == VISION_LLM:
        if vision is None:
            return abstention(judge.name, "this vision judge is not configured in this process's panel")
        try:
            return vision.waited(run_vision_judge(judge, rubric, ctx, vision))
        except JudgeFailed as exc:
            return abstention(judge.name, str(exc), (time.perf_counter() - started) * 1000)
    return run_offline_judges([judge], rubric, {judge.name: ctx})[0]


def run_offline_judges(
    judges: list[JudgeConfig], rubric: Rubric, contexts: dict[str, JudgeContext]
) -> list[VoteResult]:
    """Offline judges at once, each on the context of its name and held to its own limit: a judge past its limit
    abstains while the others' votes stand. Contexts built on the same (shared) image sources decode once."""
    started, now = time.perf_counter(), time.monotonic()
    running: list[tuple[JudgeConfig, concurrent.futures.Future[VoteResult]]] = []
    for judge in judges:
        ctx = contexts[judge.name]
        # The checks run on a judge thread so the vote arrives at the limit whatever they are doing; the deadline in
        # the context stops them at their next stage (decode, OCR page, criterion).
        ctx.deadline = now + judge.timeout_seconds
        try:
            running.append((judge, _judge_threads().submit(_offline_vote_on_judge_thread, judge, rubric, ctx, started)))
        except RuntimeError as exc:  # the pool takes no more work once the interpreter has begun to exit
            raise ProcessExiting(f"judge {judge.name} not started: the process is exiting") from exc
    votes: list[VoteResult] = []
    for judge, outcome in running:
        try:
            votes.append(outcome.result(timeout=max(0.0, now + judge.timeout_seconds - time.monotonic())))
        except concurrent.futures.TimeoutError:
            votes.append(_overran(judge, started))
    return votes


def _offline_vote_on_judge_thread(judge: JudgeConfig, rubric: Rubric, ctx: JudgeContext, started: float) -> VoteResult:
    # Named for the judge while it votes (py-spy dump, log records' threadName).
    threading.current_thread().name = f"judge-{judge.name}"
    return _offline_vote(judge, rubric, ctx, started)


async def run_vision_judge(judge: JudgeConfig, rubric: Rubric, ctx: JudgeContext, vision: VisionJudge) -> VoteResult:
    """A vision judge's vote, on the background loop: waiting for the model holds no thread."""
    started = time.perf_counter()
    try:
        voted = await vision.vote_async(rubric, ctx)
    except SentinelError as exc:  # e.g. an image that cannot be decoded
        return abstention(judge.name, exc.message, (time.perf_counter() - started) * 1000)
    except Exception as exc:
        reason = scrub(f"{type(exc).__name__}: {exc}", vision.api_key())
        return abstention(judge.name, reason, (time.perf_counter() - started) * 1000)
    duration = (time.perf_counter() - started) * 1000
    return VoteResult(judge.name, voted.passed, voted.reasoning, voted.criteria, duration, voted.usage)


def _overran(judge: JudgeConfig, started: float) -> VoteResult:
    return abstention(
        judge.name, f"took longer than its {judge.timeout_seconds:g} s limit", (time.perf_counter() - started) * 1000
    )


def _offline_vote(judge: JudgeConfig, rubric: Rubric, ctx: JudgeContext, started: float) -> VoteResult:
    kind = KINDS[judge.kind]
    results: list[CriterionResult] = []
    try:
        for criterion in rubric.criteria:
            if criterion.judge != judge.kind or criterion.check is None:
                continue
            ctx.check_deadline()
            check = kind.checks[criterion.check]
            settings = check.settings_model.model_validate(criterion.settings)
            try:
                outcome = check.run(ctx, settings)
            except BadImage as exc:
                # An image that cannot be decoded fails every criterion that needs its pixels, and nothing is worse.
                outcome = Outcome(False, None, None, exc.message, severity="severe")
            results.append(criterion_result(criterion, outcome, check))
    except OutOfTime:
        return _overran(judge, started)
    except SentinelError as exc:
        return abstention(judge.name, exc.message, (time.perf_counter() - started) * 1000)
    except Exception as exc:
        return abstention(judge.name, f"{type(exc).__name__}: {exc}", (time.perf_counter() - started) * 1000)
    duration = (time.perf_counter() - started) * 1000
    return VoteResult(
        judge=judge.name,
        passed=all(r.passed for r in results),
        reasoning=reasoning_for(results),
        criteria=[r.to_dict() for r in results],
        duration_ms=duration,
    )


def quorum_for(judges: int, share: float) -> int:
    return max(1, math.ceil(judges * share)) if judges else 0


def run_panel(
    panel: Panel, rubric: Rubric, make_context: Any, quorum_share: float, max_workers: int = 4
) -> tuple[Verdict, list[VoteResult]]:
    """Every judge of the task in parallel threads, each held to its own time limit; escalation judges only
    when the others disagree."""
    first, escalation = panel.split(rubric)
    votes = _run_round(panel, rubric, make_context, first, max_workers)
    expected = [j.name for j in first]
    record = None
    if escalation:
        reason = disagreement(votes)
        asked = escalation if reason else []
        record = escalation_record([j.name for j in asked], reason)
        if asked:
            votes += _run_round(panel, rubric, make_context, asked, max_workers)
            expected += [j.name for j in asked]
    verdict = aggregate(rubric, expected, votes, quorum_for(len(first), quorum_share), escalation=record)
    return verdict, votes


def _run_round(
    panel: Panel, rubric: Rubric, make_context: Any, judges: list[JudgeConfig], max_workers: int
) -> list[VoteResult]:
    votes: list[VoteResult] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(judges))))
    try:
        futures = {
            judge.name: pool.submit(run_judge, judge, rubric, make_context(judge), panel.vision.get(judge.name))
            for judge in judges
        }
        started = time.monotonic()
        for judge in judges:
            remaining = judge.timeout_seconds - (time.monotonic() - started)
            try:
                votes.append(futures[judge.name].result(timeout=max(0.0, remaining)))
            except concurrent.futures.TimeoutError:
                votes.append(abstention(judge.name, f"took longer than its {judge.timeout_seconds:g} s limit"))
    finally:
        # Don't wait for a judge that overran: the verdict is already decided without it.
        pool.shutdown(wait=False, cancel_futures=True)
    return votes
