"""What every endpoint does the same way: parsing a JSON body into a model, and long-polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Callable, Collection, Iterator
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from sentinel.errors import InvalidInput
from sentinel.http.errors import validation_code
from sentinel.http.threads import in_thread
from sentinel.telemetry.finished import FinishedSignals, Waiter

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


def parse_body(model: type[ModelT], raw: bytes, *, strict: bool = False) -> ModelT:
    """The body as ``model``, or a 400 naming the first field that is wrong (OpenAI's wording for extras).
    ``strict``: a JSON value of the wrong type (``"n": "2"``, ``"seed": 1.5``) is refused, as OpenAI's API refuses
    it, instead of being coerced; a JSON integer still passes for a float field."""
    try:
        parsed = model.model_validate_json(raw, strict=strict)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            error = InvalidInput(f"Unknown parameter: '{field}'.", field=field)
        else:
            error = InvalidInput(f"Invalid '{field or 'body'}': {first['msg']}", field=field)
        # OpenAI's code for the rule broken (unknown_parameter, missing_required_parameter, invalid_value).
        error.code = validation_code(first["type"]) if field else None
        raise error from exc
    reject_repeated_keys(raw)
    # JSON can carry a NUL only as the escape \u0000 (a raw control character is refused by the parser): without
    # that text in the body there is nothing to look for, and walking the whole model costs every request.
    if b"\\u0000" in raw:
        reject_nul(parsed.model_dump(), "")
    return parsed


class _Repeated(dict[str, Any]):
    """A JSON object in which a key was given twice: ``key`` names it."""

    key: str = ""


def _object_of(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    built = dict(pairs)
    if len(built) == len(pairs):
        return built
    repeated = _Repeated(built)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def _repeated_path(value: Any, field: str) -> str | None:
    """The dotted path of the first key given twice in a parsed body (objects are built inside out, so an inner
    object's repetition is found by walking down from the outside)."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = _repeated_path(item, f"{field}.{key}" if field else str(key))
            if found is not None:
                return found
        if isinstance(value, _Repeated):
            return f"{field}.{value.key}" if field else value.key
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _repeated_path(item, f"{field}.{index}" if field else str(index))
            if found is not None:
                return found
    return None


def reject_repeated_keys(raw: bytes | str, field: str = "") -> None:
    """Refuse a JSON object holding one key twice (``{"prompt": "x", "prompt": "y"}``): valid JSON, but every
    parser keeps only one of the two (pydantic's the last), so the caller gets what it may not have meant, silently.
    A second parse of the (small, already validated) body with the standard library, which reports the pairs.
    ``field``: the name of the field whose text ``raw`` is (a form's ``params``), leading the path named."""
    repeated = False

    def object_of(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        built = _object_of(pairs)
        repeated = repeated or isinstance(built, _Repeated)
        return built

    try:
        parsed = json.loads(raw, object_pairs_hook=object_of)
    except ValueError:
        return  # pydantic accepted it and the standard library did not: not a repetition, nothing to add
    if repeated:
        path = _repeated_path(parsed, field) or field or "body"
        raise InvalidInput(f"Invalid '{path}': the key was sent twice in one JSON object; send it once", field=path)


def reject_nul(value: Any, field: str) -> None:
    """Refuse text holding a NUL character (``\\u0000``): valid JSON, but PostgreSQL cannot store it in any text
    column, so it would fail later, as a 500 or a worker retrying for ever (a judge quoting it in its reasoning)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(
                f"Invalid '{field or 'body'}': text may not contain NUL characters (\\u0000)", field=field or None
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            reject_nul(key, name)
            reject_nul(item, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            reject_nul(item, f"{field}.{index}" if field else str(index))


class SharedSafetyNet:
    """The safety net of every reader waiting on one event loop for the same kind of row, as one query.

    An announcement can be lost (a worker that could not publish it, a subscription that blinked), so a waiting
    reader used to read its row again every :meth:`FinishedSignals.interval` however it waited: with 200 readers
    waiting for verdicts that take two seconds, 200 reads a second, each a thread hop and a round trip, about a
    third of the API's CPU per evaluation in a burst. Here one query per period asks which of the rows waited for
    are finished (``finished_among``, given their ids, run in a thread) and wakes only their readers, who read then.
    A lost announcement is still noticed within the period; the readers of unfinished rows read nothing meanwhile.
    """

    def __init__(self, finished_among: Callable[[list[str]], Collection[str]]) -> None:
        self._finished_among = finished_among
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Row id -> the waiters of its readers on ``_loop``; only the loop's thread touches it.
        self._watched: dict[str, set[Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        #: Queries run so far (for the tests and for anyone reading the process's state).
        self.checks = 0

    @contextlib.contextmanager
    def watching(self, row_id: str, waiter: Waiter, period: float) -> Iterator[None]:
        """``waiter`` is woken within about ``period`` seconds once ``row_id`` is finished."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (a test's): the old one's readers and task are gone with it
            self._loop, self._watched, self._task = loop, {}, None
        self._watched.setdefault(row_id, set()).add(waiter)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(period))
        try:
            yield
        finally:
            waiters = self._watched.get(row_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._watched[row_id]

    async def _run(self, period: float) -> None:
        """Every ``period``, while anyone waits: one query for all the ids waited for."""
        while self._watched:
            await asyncio.sleep(period)
            ids = list(self._watched)
            if not ids:
                break
            self.checks += 1
            try:
                done = await in_thread(self._finished_among, ids)
            except Exception as exc:  # the database blinked: the readers read for themselves at their next turn
                logger.warning("the long-poll safety net could not check %d rows (%s)", len(ids), exc)
                for waiters in list(self._watched.values()):
                    for waiter in list(waiters):
                        waiter.wake()
                continue
            for row_id in done:
                for waiter in list(self._watched.get(row_id, ())):
                    waiter.wake()


class _Stopping:
    """The long polls waiting on one event loop, and how far its server's stop has gone."""

    def __init__(self) -> None:
        #: The server began to stop: reads' waits end at once.
        self.started = False
        #: Its grace period is about to end: every wait ends, a held one too.
        self.ending = False
        #: Each waiting poll's waiter, and whether it is held through the grace period.
        self.polls: dict[Waiter, bool] = {}


_STOPPING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Stopping] = weakref.WeakKeyDictionary()


def _stopping() -> _Stopping:
    loop = asyncio.get_running_loop()
    state = _STOPPING.get(loop)
    if state is None:
        state = _STOPPING[loop] = _Stopping()
    return state


def end_long_polls(*, grace_over: bool = False) -> int:
    """Called on the server's loop when it starts to stop (and again, ``grace_over``, a moment before its grace
    period ends): the long polls waiting there read their row once more and answer it, as a wait that ran out
    does, instead of holding the stop up until uvicorn cancels them into a bare 500 (logged at ERROR). A client
    long-polling asks again, of another instance or of this one restarted. Returns how many were woken."""
    state = _stopping()
    state.started = True
    state.ending = state.ending or grace_over
    woken = [waiter for waiter, held in state.polls.items() if state.ending or not held]
    for waiter in woken:
        waiter.wake()
    return len(woken)


def grace_ending() -> bool:
    """Whether this loop's server is at the end of its stop's grace period (a held long poll has just ended)."""
    return _stopping().ending


async def long_poll(
    request: Request,
    key: str,
    load: Callable[[], T],
    finished: Callable[[T], bool],
    wait: float,
    signals: FinishedSignals,
    net: tuple[SharedSafetyNet, str] | None = None,
    *,
    through_shutdown: bool = False,
) -> T:
    """Read (in a thread) until ``finished``, ``wait`` seconds pass or the client goes away. Between reads it
    waits for ``key`` to be announced on ``signals`` (see :mod:`sentinel.telemetry.finished`), not for a timer.
    ``signals`` is ``services.finished``; the ``request`` tells when the client went away.

    ``net``: (the shared safety net of rows of this kind, this row's id). While announcements arrive, the reader
    then reads again only when woken (by its announcement, or by the net finding its row finished), where it read
    again at every safety-net period; it still looks every period whether the client went away or announcements
    stopped arriving (then it reads, and polls as before).

    When the server starts to stop (:func:`end_long_polls`) the wait ends with the row as it is then, as a wait
    that ran out does; with ``through_shutdown`` (a wait that is the request itself, such as a judged
    generation's) it goes on until a moment before the grace period ends.
    """
    give_up = time.monotonic() + wait
    stopping = _stopping()

    def stopped() -> bool:
        return stopping.ending or (stopping.started and not through_shutdown)

    with signals.waiting(key) as waiter:
        stopping.polls[waiter] = through_shutdown
        try:
            while True:
                value = await in_thread(load)
                remaining = give_up - time.monotonic()
                if finished(value) or remaining <= 0 or stopped() or await request.is_disconnected():
                    return value
                if net is None or not signals.live:
                    await waiter.wait(min(remaining, signals.interval()))
                    continue
                shared, row_id = net
                period = signals.interval()
                with shared.watching(row_id, waiter, period):
                    while not await waiter.wait(min(remaining, period)):
                        remaining = give_up - time.monotonic()
                        if remaining <= 0 or not signals.live or await request.is_disconnected():
                            break
        finally:
            del stopping.polls[waiter]


def _query_names(dependant: Any) -> frozenset[str]:
    """The query parameters a route declares, its own and its dependencies'."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def declared_query_only(request: Request) -> None:
    """Refuse a query parameter the route does not take, naming the ones it does. A filter with a typo
    (``?verdcit=red``) was ignored: the list, or the whole export, came back unfiltered, and a script taking it
    for the red results took every row."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    accepted = _query_names(dependant)  # a handful of parameters, read only when some were sent
    for name in request.query_params:
        if name not in accepted:
            shown = name[:60]
            takes = ", ".join(sorted(accepted)) or "none"
            raise InvalidInput(f"unknown query parameter '{shown}'; this endpoint takes: {takes}", field=shown)
