"""The review queue page: claiming items, deciding one or many, undoing, and a decision that survives a login.

A reviewer who opens the queue is given the oldest item nobody else holds and holds it for a few minutes; every
refused decision shows the item again with the note still in its box, so nothing typed is lost."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from sentinel.errors import InvalidInput, NotFound, SentinelError
from sentinel.evaluation.deps import Evaluations
from sentinel.evaluation.service import EvaluationService
from sentinel.http.deps import AppServices
from sentinel.jobs.deps import Jobs
from sentinel.jobs.service import JobService
from sentinel.pages.auth import CSRF_FIELD, Reviewer, ReviewerAuth, check_origin, check_token, safe_next
from sentinel.pages.deps import ReviewerLogin
from sentinel.pages.difference import difference_png
from sentinel.pages.endpoints import (
    MAX_FORM_FIELDS,
    PageHeaders,
    _reviewer,
    authenticate,
    begin_session,
    error_page,
    login_page,
    read_form,
    to_login,
)
from sentinel.pages.review_view import (
    FILTER_FIELDS,
    MAX_BULK_ITEMS,
    MAX_NOTE,
    PENDING_FIELDS,
    Desk,
    Shown,
    decide_and_show,
    desk_of,
    filters_of,
    review_url,
    show,
)
from sentinel.review.deps import Reviews
from sentinel.review.filters import QueueFilter
from sentinel.review.service import ReviewService

router = APIRouter(include_in_schema=False)


async def login_then_queue(request: Request, auth: ReviewerAuth, headers: dict[str, str]) -> Response:
    """A POST-only route must never become the page to return to after login (that is a 405): the queue is."""
    return RedirectResponse("/login?next=%2Freview", status_code=303)


async def carry_decision_through_login(request: Request, auth: ReviewerAuth, headers: dict[str, str]) -> Response:
    return await carry_through_login(request, auth, headers, request.path_params["evaluation_id"])


@dataclass(frozen=True)
class DeskParts:
    """A review desk but for the reviewer (known only once the session or login is checked)."""

    headers: dict[str, str]
    review: ReviewService
    evaluations: EvaluationService
    jobs: JobService

    def desk(self, reviewer: Reviewer) -> Desk:
        return desk_of(reviewer, self.headers, self.review, self.evaluations, self.jobs)


async def desk_parts(headers: PageHeaders, review: Reviews, evaluations: Evaluations, jobs: Jobs) -> DeskParts:
    return DeskParts(headers, review, evaluations, jobs)


ReviewDesk = Annotated[DeskParts, Depends(desk_parts)]


@dataclass(frozen=True)
class ReviewPost:
    """A review page POST from a logged-in reviewer that passed the CSRF check (sent from this site, carrying the
    session's token): the reviewer, the form, and the desk to act at."""

    reviewer: Reviewer
    form: dict[str, str]
    #: Every value of the form, for a field given several times (the bulk form's ``ids``).
    values: FormData
    desk: Desk


def checked_review_post(
    max_fields: int,
    logged_out: Callable[[Request, ReviewerAuth, dict[str, str]], Awaitable[Response]],
    refusal_names_reviewer: bool = False,
) -> Callable[..., Awaitable[ReviewPost | Response]]:
    """What every review page POST does first, as a FastAPI dependency: find the session's reviewer, read the form
    (at most ``max_fields`` fields) and check it against CSRF. Its value is the :class:`ReviewPost`, or the response
    to send instead: ``logged_out``'s when nobody is logged in, an error page when the check fails (naming the
    reviewer on it when ``refusal_names_reviewer``)."""

    # A function, not a callable object: FastAPI resolves the annotations of a dependency through its __globals__.
    async def check(request: Request, auth: ReviewerLogin, parts: ReviewDesk) -> ReviewPost | Response:
        reviewer = await _reviewer(request, auth)
        if reviewer is None:
            return await logged_out(request, auth, parts.headers)
        try:
            values = await request.form(max_files=0, max_fields=max_fields)
            form = {key: value for key, value in values.items() if isinstance(value, str)}
            check_origin(request.headers.get("origin"), request.headers.get("referer"), request.headers.get("host"))
            check_token(reviewer.csrf_token, form.get(CSRF_FIELD))
        except SentinelError as exc:
            return error_page(parts.headers, exc, "/review", reviewer if refusal_names_reviewer else None)
        return ReviewPost(reviewer, form, values, parts.desk(reviewer))

    return check


#: A decision on one item; logged out, the login page carries the decision through.
DecisionPost = Annotated[
    ReviewPost | Response, Depends(checked_review_post(MAX_FORM_FIELDS, carry_decision_through_login))
]
#: A decision on many ticked items (one ``ids`` field each).
BulkPost = Annotated[
    ReviewPost | Response,
    Depends(checked_review_post(MAX_BULK_ITEMS + 20, login_then_queue, refusal_names_reviewer=True)),
]
#: Taking one's decision back.
UndoPost = Annotated[ReviewPost | Response, Depends(checked_review_post(MAX_FORM_FIELDS, login_then_queue))]


# -- the queue ------------------------------------------------------------------------------------------------


@router.get("/review")
async def review_page(
    request: Request,
    auth: ReviewerLogin,
    parts: ReviewDesk,
    id: str | None = Query(None, max_length=64),
    after: str | None = Query(None, max_length=64),
    left: str | None = Query(None, max_length=64),
    decided: str | None = Query(None, max_length=64),
    undone: str | None = Query(None, max_length=64),
) -> Response:
    reviewer = await _reviewer(request, auth)
    if reviewer is None:
        return to_login(request)
    desk = parts.desk(reviewer)
    shown = Shown(decided=decided, undone=undone)
    try:
        filters = filters_of({name: request.query_params.get(name, "")[:300] for name in FILTER_FIELDS})
    except InvalidInput as exc:
        filters, shown.status, shown.error = QueueFilter(), 400, f"{exc.message}; the filters were cleared"
    if undone:
        shown.info = f"Your decision on '{undone}' was undone: the item waits for review again."
    # Moving on (next, or another row of the list) lets go of the item left, so a colleague may take it.
    for released in {after, left} - {None, id}:
        # Nothing of this reviewer's to let go (an id edited in the address bar, or deleted since): the page shows.
        with contextlib.suppress(NotFound, InvalidInput):
            await run_in_threadpool(desk.review.release, released, reviewer.name, reviewer.caller)
    return await show(desk, filters, id, shown, after=after)


@router.post("/review/{evaluation_id}/decision")
async def review_decision(evaluation_id: str, post: DecisionPost) -> Response:
    if isinstance(post, Response):
        return post
    return await decide_and_show(post.desk, evaluation_id, post.form)


async def carry_through_login(request: Request, auth: Any, headers: dict[str, str], evaluation_id: str) -> Response:
    """The session is gone (expired, logged out elsewhere): the login page, carrying the decision and its note so
    that logging in applies it. Only a form of this site is carried; another site's post is refused as before."""
    form = await read_form(request)
    try:
        check_origin(request.headers.get("origin"), request.headers.get("referer"), request.headers.get("host"))
    except SentinelError as exc:
        return error_page(headers, exc, "/review")
    pending = {name: form.get(name, "")[: MAX_NOTE if name == "note" else 300] for name in PENDING_FIELDS}
    pending["evaluation_id"] = evaluation_id[:64]
    message = "Your session ended before the decision was saved. Log in again and it will be applied."
    return login_page(request, auth, headers, "/review", 401, message, pending)


@router.post("/login/decision")
async def login_then_decide(request: Request, auth: ReviewerLogin, parts: ReviewDesk) -> Response:
    """The login form that carries a pending decision: log in (the login form's own token and origin checks), then
    decide exactly as the review page would."""
    form = await read_form(request)
    pending = {name: form.get(name, "") for name in PENDING_FIELDS}
    found = await authenticate(request, auth, parts.headers, form, safe_next(form.get("next")), pending)
    if isinstance(found, Response):
        return found
    placeholder = HTMLResponse("")
    cookie = await begin_session(request, auth, found, placeholder)
    reviewer = await run_in_threadpool(auth.reviewer_from_cookie, cookie)
    if reviewer is None:  # only if the key was removed in between: log in again, still carrying the decision
        return login_page(request, auth, parts.headers, "/review", 401, "That login ended at once; try again.", pending)
    response = await decide_and_show(parts.desk(reviewer), pending["evaluation_id"][:64], pending)
    for value in placeholder.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", value)
    return response


# -- several at once, and taking one back ---------------------------------------------------------------------------


@router.post("/review/bulk")
async def review_bulk(post: BulkPost) -> Response:
    if isinstance(post, Response):
        return post
    reviewer, form, desk = post.reviewer, post.form, post.desk
    try:
        filters = filters_of(form)
    except InvalidInput:
        filters = QueueFilter()
    ids = [value[:64] for value in post.values.getlist("ids") if isinstance(value, str) and value]
    note = form.get("note", "")
    try:
        if not ids:
            raise InvalidInput("tick at least one item of the list to decide them together", field="ids")
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"the note is longer than {MAX_NOTE} characters", field="note")
        results = await run_in_threadpool(
            desk.review.decide_many, ids, form.get("decision", ""), reviewer.name, note.strip() or None, reviewer.caller
        )
    except SentinelError as exc:
        return await show(desk, filters, None, Shown(status=exc.status_code, error=exc.message, note=note))
    return await show(desk, filters, None, Shown(bulk=results))


@router.post("/review/{evaluation_id}/undo")
async def review_undo(evaluation_id: str, post: UndoPost) -> Response:
    if isinstance(post, Response):
        return post
    try:
        filters = filters_of(post.form)
    except InvalidInput:
        filters = QueueFilter()
    try:
        await run_in_threadpool(post.desk.review.undo, evaluation_id, post.reviewer.name, post.reviewer.caller)
    except SentinelError as exc:
        return await show(post.desk, filters, None, Shown(status=exc.status_code, error=exc.message))
    return RedirectResponse(review_url(filters, id=evaluation_id, undone=evaluation_id), status_code=303)


# -- the difference view of an edit ----------------------------------------------------------------------------------


@router.api_route("/review/{evaluation_id}/difference.png", methods=["GET", "HEAD"])
async def difference_image(
    evaluation_id: str,
    request: Request,
    auth: ReviewerLogin,
    headers: PageHeaders,
    evaluations: Evaluations,
    services: AppServices,
) -> Response:
    reviewer = await _reviewer(request, auth)
    if reviewer is None:
        return to_login(request)

    def draw() -> bytes:
        # The reviewer's tenant only: another tenant's evaluation is not found, as a missing one is.
        evaluation, _ = evaluations.get(evaluation_id, reviewer.caller)
        return difference_png(services, evaluation)

    try:
        png = await run_in_threadpool(draw)
    except SentinelError as exc:
        return error_page(headers, exc, "/review", reviewer)
    # Made from content-addressed images: the same evaluation always draws the same picture.
    cache = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(png, media_type="image/png", headers=cache)
