"""A Python client for Sentinel's API: ``Sentinel`` (blocking) and ``AsyncSentinel`` (asyncio).

    from sentinel.client import Sentinel

    with Sentinel("http://127.0.0.1:8000", api_key="snt_…") as sentinel:
        evaluation = sentinel.evaluate("photo.jpg", task="product-white-background")
        print(evaluation.verdict, evaluation.summary)

It needs httpx and pydantic only: importing it loads none of the server (no numpy, Pillow, SQLModel or FastAPI).
"""

from sentinel.client.aio import AsyncSentinel
from sentinel.client.errors import (
    SentinelAPIError,
    SentinelConnectionError,
    SentinelError,
    SentinelTimeout,
    SentinelUnexpectedAnswer,
)
from sentinel.client.models import (
    ChosenImage,
    Criterion,
    Decision,
    Evaluation,
    ImageRef,
    Issue,
    Job,
    JobAttempt,
    JudgeVote,
    Review,
    ReviewItem,
)
from sentinel.client.sync import Sentinel

__all__ = [
    "AsyncSentinel",
    "ChosenImage",
    "Criterion",
    "Decision",
    "Evaluation",
    "ImageRef",
    "Issue",
    "Job",
    "JobAttempt",
    "JudgeVote",
    "Review",
    "ReviewItem",
    "Sentinel",
    "SentinelAPIError",
    "SentinelConnectionError",
    "SentinelError",
    "SentinelTimeout",
    "SentinelUnexpectedAnswer",
]
