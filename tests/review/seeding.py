"""Amber items written straight into a database, so the review service can be exercised on SQLite and PostgreSQL
without running judges: each test uses a task name of its own, so tests sharing a database never see each
other's items."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from sentinel.evaluation.service import EvaluationService
from sentinel.models import (
    Evaluation,
    EvaluationStatus,
    Job,
    JobAttempt,
    JobState,
    StoredImage,
    Verdict,
    Vote,
    utcnow,
)
from sentinel.review.service import ReviewService
from sentinel.settings import Settings
from sentinel.wiring import build_services

IMAGE_ID = "ab" * 32


def review_service(tmp_path: Path, database_url: str | None = None) -> ReviewService:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    services = build_services(settings)
    with Session(services.engine) as session:
        if session.get(StoredImage, IMAGE_ID) is None:
            session.add(StoredImage(id=IMAGE_ID, mime="image/png", width=8, height=8, size_bytes=10))
            session.commit()
    return ReviewService(services, EvaluationService(services))


def judge(name: str, passed: bool | None, failing: list[tuple[str, str]] = ()) -> dict[str, Any]:
    """A judge's stored vote: ``failing`` is (criterion id, severity) for each criterion it failed."""
    criteria = [
        {"id": cid, "passed": False, "measured": 0.5, "threshold": 0.9, "detail": f"{cid} is off", "severity": sev}
        for cid, sev in failing
    ]
    criteria.append({"id": f"{name}-ok", "passed": True, "measured": 1, "threshold": 1, "detail": "fine"})
    return {"judge": name, "passed": passed, "reasoning": f"{name} says so", "criteria": criteria, "duration_ms": 1}


def seed(
    service: ReviewService,
    task: str,
    judges: list[dict[str, Any]],
    *,
    waited_seconds: float = 60,
    provider: tuple[str, str] | None = None,
    votes: int | None = None,
    callback_url: str | None = None,
) -> str:
    """One amber evaluation that has waited ``waited_seconds``; with ``provider`` it is a job's attempt."""
    now = utcnow()
    evaluation_id = f"ev_{uuid.uuid4().hex[:20]}"
    started = now - timedelta(seconds=waited_seconds)
    result = {
        "verdict": Verdict.AMBER,
        "summary": "one judge objected",
        "failed_judges": sum(j["passed"] is False for j in judges),
        "judges": judges,
    }
    with Session(service.services.engine) as session:
        session.add(
            Evaluation(
                id=evaluation_id,
                task=task,
                image_id=IMAGE_ID,
                status=EvaluationStatus.DONE,
                rubric={},
                panel=[j["judge"] for j in judges],
                quorum=1,
                verdict=Verdict.AMBER,
                summary="one judge objected",
                failed_judges=result["failed_judges"],
                result=result,
                callback_url=callback_url,
                created_at=started - timedelta(seconds=1),
                deadline_at=now + timedelta(minutes=5),
                finished_at=started,
            )
        )
        session.flush()
        for j in judges[: len(judges) if votes is None else votes]:
            session.add(
                Vote(evaluation_id=evaluation_id, judge=j["judge"], passed=j["passed"], reasoning="", criteria=[])
            )
        if provider is not None:
            job_id = f"job_{uuid.uuid4().hex[:20]}"
            session.add(
                Job(
                    id=job_id,
                    task=task,
                    prompt="a cup",
                    state=JobState.DONE,
                    verdict=Verdict.AMBER,
                    reason="one judge objected to an image: it waits for review",
                    deadline_at=now + timedelta(minutes=5),
                    finished_at=now,
                )
            )
            session.flush()
            session.add(
                JobAttempt(
                    job_id=job_id,
                    provider=provider[0],
                    provider_model=provider[1],
                    image_id=IMAGE_ID,
                    evaluation_id=evaluation_id,
                    verdict=Verdict.AMBER,
                    state="judged",
                    summary="one judge objected",
                )
            )
        session.commit()
    return evaluation_id


def task_name() -> str:
    return f"task-{uuid.uuid4().hex[:10]}"
