"""Committing new evaluations in groups: ``await intake.accept(new)`` returns once ``new``'s rows are committed, or
raises why not.

A request is answered only once its evaluation, its images (rows and blobs) and its judges' message are committed,
so an accepted evaluation is always judged. What requests share is the commit: the evaluations that arrive while one
transaction is being written wait for it to end and then go together in the next one (a group commit, as the
gateway records its generations: :mod:`sentinel.generation.records`). A lone upload pays one thread hop (its
validation and its transaction) as before. In a burst, one transaction (a statement per table), one thread waking
and one relay hand-off serve every upload that arrived meanwhile, where each took its own BEGIN, INSERT and COMMIT
round trips and held a pooled connection across its blob's write and fsync; the group's new blobs are written at
once (each in a thread of the store's), so their writes and fsyncs overlap on the device.

Should a group's transaction fail, each of its evaluations is written again in a transaction of its own, so one
that cannot be written fails only its request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from sentinel.evaluation.accept_rows import NewEvaluation, insert_evaluations
from sentinel.http.threads import in_thread
from sentinel.store.service import ImageService

logger = logging.getLogger(__name__)

#: Evaluations written in one transaction at most (a larger burst goes in several).
GROUP_MAX = 256
#: Transactions of new evaluations under way at once: a burst's groups overlap their round trips and blob writes
#: (one writer at a time made each group wait for the last one's fsyncs, and answered most of a burst at its end).
WRITERS = 4


class _Queued:
    __slots__ = ("done", "new")

    def __init__(self, new: NewEvaluation, done: asyncio.Future[None]) -> None:
        self.new, self.done = new, done


class Intake:
    """Writes new evaluations, together when they arrive together (see the module's docstring).

    It belongs to the first event loop that uses it (the API's), or the next one once that loop is closed; an
    evaluation sent from any other loop is written on its own."""

    def __init__(self, engine: Callable[[], Engine], images: ImageService) -> None:
        self._engine = engine
        self._images = images
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[_Queued] = []
        #: Writes under way on the writer's loop: lone requests' and groups' (at most WRITERS).
        self._writes = 0
        self._binding = threading.Lock()

    async def accept(self, prepare: Callable[[], NewEvaluation]) -> NewEvaluation:
        """The evaluation ``prepare`` makes (it validates the request, in a thread: raise to refuse it), committed.
        While fewer than WRITERS writes are under way it is written in the same hop to a thread, alone; else it
        joins the next group."""
        loop = asyncio.get_running_loop()
        with self._binding:
            if self._loop is None or self._loop.is_closed():
                self._loop, self._waiting, self._writes = loop, [], 0
            ours = self._loop is loop
        if not ours:
            return await asyncio.to_thread(self._prepare_and_write, prepare)
        if self._writes < WRITERS and not self._waiting:
            self._writes += 1
            try:
                return await in_thread(self._prepare_and_write, prepare)
            finally:
                self._writes -= 1
                self._start_group(loop)
        new = await in_thread(prepare)
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append(_Queued(new, done))
        self._start_group(loop)
        # A request cancelled while it waits cancels only its own future: its evaluation is written all the same.
        await done
        return new

    def _start_group(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write the waiting evaluations as a group, if any wait and a write may start."""
        if self._waiting and self._writes < WRITERS:
            self._writes += 1
            group, self._waiting = self._waiting[:GROUP_MAX], self._waiting[GROUP_MAX:]
            loop.create_task(self._write_group(loop, group))

    def _prepare_and_write(self, prepare: Callable[[], NewEvaluation]) -> NewEvaluation:
        new = prepare()
        self._write([new])
        return new

    async def _write_group(self, loop: asyncio.AbstractEventLoop, group: list[_Queued]) -> None:
        try:
            failures = await in_thread(self._commit, group)
        except BaseException as exc:
            # Cancelled while the thread wrote (the loop is closing): whether it committed is not known here.
            for queued in group:
                if not queued.done.done():
                    queued.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("accepting stopped"))
            raise
        finally:
            self._writes -= 1
            self._start_group(loop)
        for queued, failure in zip(group, failures, strict=True):
            if queued.done.done():
                continue
            if failure is None:
                queued.done.set_result(None)
            else:
                queued.done.set_exception(failure)

    def _commit(self, group: list[_Queued]) -> list[Exception | None]:
        """Per evaluation, None when committed, else why not. One transaction for the whole group; when it fails,
        each evaluation again in a transaction of its own."""
        try:
            self._write([queued.new for queued in group])
        except Exception as exc:
            if len(group) == 1:
                return [exc]
            logger.warning("a group of %d evaluations failed (%s): writing each alone", len(group), type(exc).__name__)
            return [self._write_alone(queued.new) for queued in group]
        return [None] * len(group)

    def _write_alone(self, new: NewEvaluation) -> Exception | None:
        try:
            self._write([new])
        except Exception as exc:
            return exc
        return None

    def _write(self, group: list[NewEvaluation]) -> None:
        with Session(self._engine(), expire_on_commit=False) as session:
            insert_evaluations(session, self._images, group)
            session.commit()
