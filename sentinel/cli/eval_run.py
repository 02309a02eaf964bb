"""How `sentinel eval` judges its items: in this process (the judge panel on threads) or on a Sentinel server.

Either way each item becomes an :class:`~sentinel.reports.Outcome`; a problem with one item (a corrupt file, a
mask of the wrong size, an unknown task) is that item's error, and the others are judged. Heavy modules (numpy,
Pillow, the judges, httpx) are imported inside the functions that need them, so the command starts fast.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sentinel.cli.eval_inputs import Item
from sentinel.errors import SentinelError, over_the_limit
from sentinel.reports import Outcome

if TYPE_CHECKING:
    import httpx

#: Seconds `--server` waits for one verdict before naming the image as not judged.
SERVER_VERDICT_TIMEOUT = 600.0


class SetupProblem(Exception):
    """Something every item shares is wrong (the task or params of the command line, its --source/--mask, an
    unreachable server): the command stops with exit 2 before judging anything."""


def read_file(path: Path, what: str, max_bytes: int) -> bytes:
    """The file's bytes; ValueError with a message that needs no path (the item names the file)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{what} is {over_the_limit(size, max_bytes)}")
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what}: {exc.strerror or exc}") from exc


def _outcome(item: Item, document: dict[str, Any], started: float, thumbnail: str | None) -> Outcome:
    return Outcome(
        name=item.name,
        task=document.get("task") or item.task,
        verdict=document.get("verdict"),
        summary=document.get("summary") or "",
        issues=list(document.get("issues") or []),
        document={"image": item.name, **document},
        duration_ms=(time.perf_counter() - started) * 1000,
        thumbnail=thumbnail,
    )


def _failed(item: Item, message: str, started: float | None = None) -> Outcome:
    duration = None if started is None else (time.perf_counter() - started) * 1000
    return Outcome(name=item.name, task=item.task, error=message, duration_ms=duration)


def _thumbnail(data: bytes, wanted: bool) -> str | None:
    if not wanted:
        return None
    from sentinel.reports.html import thumbnail_data_uri

    return thumbnail_data_uri(data)


def _run(
    items: list[Item],
    judge: Callable[[Item], Outcome],
    concurrency: int,
) -> Generator[Outcome, None, None]:
    """Each item's outcome, in the items' order, ``concurrency`` at a time. Stopped early (Ctrl-C, or the caller
    closing it), the items not started are dropped: only those in flight finish."""
    ready = [item for item in items if item.error is None]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        futures = {id(item): pool.submit(judge, item) for item in ready}
        for item in items:
            if item.error is not None:
                yield _failed(item, item.error)
            else:
                yield futures[id(item)].result()
    finally:
        # A `with` block would judge every queued image before an interrupt got through.
        pool.shutdown(wait=False, cancel_futures=True)


# --- in this process ------------------------------------------------------------------------------------------


def judge_locally(
    items: list[Item], concurrency: int, thumbnails: bool, shared: bool
) -> Generator[Outcome, None, None]:
    """Judge in-process. ``shared``: every item has the command line's task, params and edit inputs, so a problem
    with them is the command's (:class:`SetupProblem`), found before any image is read."""
    from sentinel.evaluation.local import Prepared, inspect, judge_image, prepare
    from sentinel.wiring import get_judging

    try:
        kit = get_judging()
    except SentinelError as exc:
        raise SetupProblem(exc.message) from exc
    limit = kit.settings.max_image_bytes
    plans: dict[tuple[Any, ...], Prepared | str] = {}

    def plan_for(item: Item) -> Prepared | str:
        """The item's prepared task, or why it has none; made once per task, params and edit inputs."""
        key = (item.task, json.dumps(item.params, sort_keys=True, default=str), item.source, item.mask)
        if key not in plans:
            try:
                extra = {
                    name: read_file(path, f"{name} {path}", limit)
                    for name, path in (("source", item.source), ("mask", item.mask))
                    if path is not None
                }
                plans[key] = prepare(kit, str(item.task), item.params, extra)
            except (SentinelError, ValueError) as exc:
                plans[key] = exc.message if isinstance(exc, SentinelError) else str(exc)
        return plans[key]

    # Tasks, params and edit inputs are checked here, one thread, before the pool starts: each is read once.
    for item in items:
        if item.error is None and item.task is None:
            item.error = "no task: give --task (or a 'task' column in the manifest)"
        if item.error is None:
            plan = plan_for(item)
            if isinstance(plan, str):
                if shared:
                    raise SetupProblem(plan)
                item.error = plan

    def judge(item: Item) -> Outcome:
        started = time.perf_counter()
        try:
            data = read_file(item.image or Path(item.name), "image", limit)
            plan = plan_for(item)
            assert not isinstance(plan, str)
            document = judge_image(kit, plan, data, inspect(kit, data, "image"))
        except SentinelError as exc:
            return _failed(item, exc.message, started)
        except ValueError as exc:
            return _failed(item, str(exc), started)
        return _outcome(item, document, started, _thumbnail(data, thumbnails))

    yield from _run(items, judge, concurrency)


# --- on a server ----------------------------------------------------------------------------------------------


def _check_tasks_on_server(items: list[Item], base: str, headers: dict[str, str], shared: bool) -> None:
    """Each task and its params, checked once against the server's rubric before any image is uploaded, as
    in-process judging does: an unknown task or a bad --param given for every image is the command's mistake
    (``shared``: exit 2), and a manifest row's is that row's. Otherwise every image was uploaded to be refused."""
    problems: dict[str, str | None] = {}
    for item in items:
        if item.error is not None or item.task is None:
            continue
        key = json.dumps([item.task, item.params], sort_keys=True, default=str)
        if key not in problems:
            problems[key] = _task_problem(base, headers, item.task, item.params)
        problem = problems[key]
        if problem is not None:
            if shared:
                raise SetupProblem(problem)
            item.error = problem


def _task_problem(base: str, headers: dict[str, str], task: str, params: dict[str, Any]) -> str | None:
    """Why the server would refuse every image of ``task`` with ``params``, or None."""
    import httpx

    from sentinel.evaluation.rubric import params_for, specs_of_view

    try:
        answer = httpx.get(f"{base}/v1/rubrics/{quote(task, safe='')}", headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        raise SetupProblem(f"cannot reach the server at {base}: {exc}") from exc
    if answer.status_code != 200:
        try:
            return str(answer.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return f"task '{task}': the server answered HTTP {answer.status_code}"
    try:
        specs = specs_of_view(answer.json())
    except ValueError:
        return None
    if specs is None:
        return None  # a view this client does not know how to read: the server checks the params itself
    try:
        params_for(task, specs, params)
    except SentinelError as exc:
        return exc.message
    return None


def _sentinel_health(answer: Any) -> bool:
    """Whether a /healthz answer is Sentinel's own (a proxy's login page or a web app answering every path is not)."""
    try:
        body = answer.json()
    except ValueError:
        return False
    return answer.status_code == 200 and isinstance(body, dict) and body.get("status") == "ok"


def judge_on_server(
    items: list[Item], server: str, api_key: str | None, concurrency: int, thumbnails: bool, shared: bool
) -> Generator[Outcome, None, None]:
    """Judge on a Sentinel server through :mod:`sentinel.client` (POST /v1/evaluations, an Idempotency-Key its
    retries reuse, then a long poll for the verdict)."""
    import httpx

    from sentinel.client import Sentinel, SentinelAPIError
    from sentinel.client import SentinelError as ClientError

    base = server.rstrip("/")

    def reach(path: str, **how: Any) -> httpx.Response:
        try:
            return httpx.get(f"{base}{path}", timeout=10.0, **how)
        except httpx.HTTPError as exc:
            raise SetupProblem(f"cannot reach the server at {base}: {exc}") from exc

    # One plain look first: a wrong URL is the command's mistake (exit 2), not every image's.
    health = reach("/healthz")
    if not _sentinel_health(health):
        raise SetupProblem(
            f"{base} is not a Sentinel server: its /healthz answered {health.status_code} "
            f"({health.headers.get('content-type') or 'no content type'}), not Sentinel's status; check --server"
        )
    # And the key, once: a missing or wrong one is the command's mistake too, not a 401 for every image.
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    checked = reach("/v1/rubrics", headers=headers)
    if checked.status_code == 401:
        raise SetupProblem(
            f"the server at {base} refused the key: pass --api-key KEY or set SENTINEL_API_KEY "
            f"(it said: {_error_said(checked)})"
        )
    # A key without the evaluate scope is refused every image alike: once, here, before any upload.
    allowed = reach("/v1/evaluations", params={"limit": "1"}, headers=headers)
    if allowed.status_code == 403:
        raise SetupProblem(
            f"the server at {base} does not let this key evaluate: use a key with the 'evaluate' scope "
            f"(it said: {_error_said(allowed)})"
        )
    _check_tasks_on_server(items, base, headers, shared)

    def judge(item: Item) -> Outcome:
        started = time.perf_counter()
        if item.task is None:
            return _failed(item, "no task: give --task (or a 'task' column in the manifest)")
        try:
            data = (item.image or Path(item.name)).read_bytes()
            evaluation = client.evaluate(
                data,
                item.task,
                params=item.params or None,
                source=item.source,
                mask=item.mask,
                wait_timeout=SERVER_VERDICT_TIMEOUT,
            )
        except OSError as exc:
            return _failed(item, f"{exc.strerror or exc}: {exc.filename or item.name}", started)
        except SentinelAPIError as exc:
            return _failed(item, f"{exc.message} (HTTP {exc.status_code})", started)
        except ClientError as exc:  # unreachable after retries, or no verdict in time
            return _failed(item, str(exc), started)
        answer = evaluation.raw
        # The server names the stored image under "image"; the report names the file judged.
        document = {k: v for k, v in answer.items() if k != "image"} | {"stored_image": answer.get("image")}
        return _outcome(item, document, started, _thumbnail(data, thumbnails))

    with Sentinel(base, api_key=api_key, timeout=90.0) as client:
        yield from _run(items, judge, concurrency)


def _error_said(answer: httpx.Response) -> str:
    """The message of a Sentinel error answer, else the start of its body."""
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return answer.text[:200]
