"""The operator pages: reviewer login, the review queue, verdict pages and the dashboard. Server-rendered with
jinja2 (autoescaped); the only script is the review queue's keyboard shortcuts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sentinel.dashboard.charts import chart_context
from sentinel.dashboard.deps import Dashboard, Routing
from sentinel.dashboard.service import WINDOWS, parked_candidates, quality_routing
from sentinel.errors import SentinelError
from sentinel.evaluation.deps import Evaluations
from sentinel.http.deps import AppServices
from sentinel.jobs.deps import Jobs
from sentinel.pages.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    LOGIN_FORM_MAX_AGE_SECONDS,
    SESSION_COOKIE,
    Reviewer,
    ReviewerAuth,
    check_csrf,
    check_origin,
    check_token,
    safe_next,
)
from sentinel.pages.deps import ReviewerLogin
from sentinel.pages.format import register_filters
from sentinel.review.deps import Reviews
from sentinel.review.stats import MIN_DECISIONS_FOR_KAPPA
from sentinel.settings import Settings

router = APIRouter(include_in_schema=False)

PAGES_DIR = Path(__file__).resolve().parent
templates = Environment(loader=FileSystemLoader(PAGES_DIR / "templates"), autoescape=select_autoescape(default=True))
register_filters(templates)

#: Pages are only ever same-origin HTML with one script file: anything injected cannot run or load.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


async def page_headers(services: AppServices) -> dict[str, str]:
    """The security headers, letting images load from the object store when image URLs are presigned there."""
    origin = services.images.presigned_origin
    if origin is None:
        return SECURITY_HEADERS
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", f"img-src 'self' data: {origin}"
    )
    return SECURITY_HEADERS | {"Content-Security-Policy": policy}


#: The headers every rendered page is sent with.
PageHeaders = Annotated[dict[str, str], Depends(page_headers)]


class WholeServiceOnly(SentinelError):
    """The dashboard adds up every tenant's traffic and spend: not for a reviewer who sees one tenant."""

    status_code = 403
    error_type = "permission_error"


#: Form posts are tiny: a decision, a note and a token.
MAX_FORM_FIELDS = 20


async def _reviewer(request: Request, auth: ReviewerAuth) -> Reviewer | None:
    """The logged-in reviewer (a database read: sessions live there so logging out ends them everywhere)."""
    return await run_in_threadpool(auth.reviewer_from_cookie, request.cookies.get(SESSION_COOKIE))


def render(headers: dict[str, str], template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    reviewer: Reviewer | None = context.pop("reviewer", None)
    html = templates.get_template(template).render(
        reviewer=reviewer.name if reviewer else None,
        csrf_token=reviewer.csrf_token if reviewer else "",
        # The dashboard adds up every tenant (WholeServiceOnly): a tenant's reviewer is not shown a link to a 403.
        sees_dashboard=reviewer is None or reviewer.caller is None or reviewer.caller.sees_all,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def error_page(
    headers: dict[str, str], exc: SentinelError, back: str, reviewer: Reviewer | None = None
) -> HTMLResponse:
    return render(headers, "error.html", exc.status_code, reviewer=reviewer, message=exc.message, back=back)


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def checked_post(request: Request, auth: ReviewerAuth) -> tuple[Reviewer | None, dict[str, str]]:
    """The reviewer and form of a page POST, after the CSRF check; None when nobody is logged in."""
    reviewer = await _reviewer(request, auth)
    if reviewer is None:
        return None, {}
    form = await read_form(request)
    headers = request.headers
    check_csrf(reviewer, form.get(CSRF_FIELD), headers.get("origin"), headers.get("host"), headers.get("referer"))
    return reviewer, form


# -- login --------------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(
    request: Request, auth: ReviewerLogin, headers: PageHeaders, next: str | None = Query(None, max_length=2000)
) -> Response:
    if await _reviewer(request, auth) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return login_page(request, auth, headers, safe_next(next))


def login_page(
    request: Request,
    auth: ReviewerAuth,
    headers: dict[str, str],
    target: str,
    status_code: int = 200,
    error: str | None = None,
    pending: dict[str, str] | None = None,
) -> HTMLResponse:
    """The login form, with its CSRF token: the same one while the login cookie lasts, so two tabs both work.
    ``pending``: a decision sent without a live session, carried in the form and applied after the login."""
    token, cookie = auth.login_form_token(request.cookies.get(LOGIN_COOKIE))
    response = render(
        headers,
        "login.html",
        status_code,
        next=target,
        login_token=token,
        keys_file=not auth.settings.reviewer_keys,
        error=error,
        pending=pending,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=LOGIN_FORM_MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=served_over_https(request, auth.settings),
    )
    return response


def served_over_https(request: Request, settings: Settings) -> bool:
    """Whether the browser reached us over TLS: the request's own scheme, or the public URL the deployment gives
    (behind the TLS proxy docs/deploy.md describes, every request arrives as plain http, and a session cookie
    without Secure would then ride any plain-http request to that host)."""
    return request.url.scheme == "https" or (settings.public_url or "").startswith("https://")


@router.post("/login")
async def login(request: Request, auth: ReviewerLogin, headers: PageHeaders) -> Response:
    form = await read_form(request)
    target = safe_next(form.get("next"))
    found = await authenticate(request, auth, headers, form, target)
    if isinstance(found, Response):
        return found
    response = RedirectResponse(target, status_code=303)
    await begin_session(request, auth, found, response)
    return response


async def authenticate(
    request: Request,
    auth: ReviewerAuth,
    headers: dict[str, str],
    form: dict[str, str],
    target: str,
    pending: dict[str, str] | None = None,
) -> tuple[str, str] | Response:
    """(reviewer name, session binding) for a login form that passes its checks, else the login page again with
    the reason (still carrying ``pending``, a decision waiting for the login)."""
    try:
        # Another site must not log this browser in, not even under a key of its own choosing.
        check_origin(request.headers.get("origin"), request.headers.get("referer"), request.headers.get("host"))
        check_token(auth.login_token_of(request.cookies.get(LOGIN_COOKIE)), form.get(CSRF_FIELD))
    except SentinelError as exc:
        return login_page(request, auth, headers, target, exc.status_code, exc.message, pending)
    found = await run_in_threadpool(auth.reviewer_for_key, form.get("key", "")[:1000])
    if found is None:
        return login_page(
            request,
            auth,
            headers,
            target,
            401,
            "That key is not a reviewer key (or an API key with the review scope). Check for a typo, or ask "
            "whoever runs Sentinel for one.",
            pending,
        )
    return found


async def begin_session(request: Request, auth: ReviewerAuth, found: tuple[str, str], response: Response) -> str:
    """Start the session of a login that passed :func:`authenticate` and set its cookie on ``response``;
    returns the cookie's value."""
    previous = await _reviewer(request, auth)
    if previous is not None:
        # A new login replaces the session this browser had: never two live sessions from one cookie jar.
        await run_in_threadpool(auth.end_session, previous)
    cookie = await run_in_threadpool(auth.start_session, *found)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=auth.settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=served_over_https(request, auth.settings),
    )
    response.delete_cookie(LOGIN_COOKIE)
    return cookie


@router.post("/logout")
async def logout(request: Request, auth: ReviewerLogin, headers: PageHeaders) -> Response:
    try:
        reviewer, _ = await checked_post(request, auth)
    except SentinelError as exc:
        return error_page(headers, exc, "/review")
    response = RedirectResponse("/login", status_code=303)
    if reviewer is not None:
        # Ended on the server: a copy of the cookie (a shared machine, a proxy log) is worth nothing now.
        await run_in_threadpool(auth.end_session, reviewer)
        response.delete_cookie(SESSION_COOKIE)
    return response


# -- review queue: the queue and its decisions are in sentinel/pages/review_pages.py --------------------


@router.get("/review/stats")
async def review_stats_page(request: Request, auth: ReviewerLogin, headers: PageHeaders, review: Reviews) -> Response:
    reviewer = await _reviewer(request, auth)
    if reviewer is None:
        return to_login(request)
    stats = await run_in_threadpool(review.stats, reviewer.caller)
    return render(
        headers, "review_stats.html", reviewer=reviewer, nav="stats", stats=stats, min_kappa=MIN_DECISIONS_FOR_KAPPA
    )


# -- verdict pages -------------------------------------------------------------------------------------


@router.get("/evaluations/{evaluation_id}")
async def evaluation_page(
    evaluation_id: str,
    request: Request,
    auth: ReviewerLogin,
    headers: PageHeaders,
    evaluations: Evaluations,
    jobs: Jobs,
) -> Response:
    reviewer = await _reviewer(request, auth)
    if reviewer is None:
        return to_login(request)
    try:
        evaluation, votes = await run_in_threadpool(evaluations.get, evaluation_id, reviewer.caller)
    except SentinelError as exc:
        return error_page(headers, exc, "/review", reviewer)
    view = await run_in_threadpool(evaluations.view, evaluation, votes)  # an amber's reads its review decision
    job_id = await run_in_threadpool(jobs.job_of_evaluation, evaluation_id)
    return render(headers, "evaluation.html", reviewer=reviewer, evaluation=view, job_id=job_id)


@router.get("/jobs/{job_id}")
async def job_page(job_id: str, request: Request, auth: ReviewerLogin, headers: PageHeaders, jobs: Jobs) -> Response:
    reviewer = await _reviewer(request, auth)
    if reviewer is None:
        return to_login(request)
    try:
        job, attempts = await run_in_threadpool(jobs.get, job_id, reviewer.caller)
    except SentinelError as exc:
        return error_page(headers, exc, "/review", reviewer)
    return render(headers, "job.html", reviewer=reviewer, job=await run_in_threadpool(jobs.view, job, attempts))


# -- favicon ---------------------------------------------------------------------------------------------


@router.api_route("/favicon.ico", methods=["GET", "HEAD"])
async def favicon() -> FileResponse:
    """Browsers ask for it on every site whatever the page links; a day's caching spares the repeats."""
    return FileResponse(
        PAGES_DIR / "static" / "favicon.ico",
        media_type="image/vnd.microsoft.icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


# -- dashboard -------------------------------------------------------------------------------------------


@router.get("/dashboard")
async def dashboard_page(
    request: Request,
    auth: ReviewerLogin,
    headers: PageHeaders,
    dashboard: Dashboard,
    router: Routing,
    review: Reviews,
    window: str = Query("24h", max_length=8),
) -> Response:
    reviewer = await _reviewer(request, auth)
    if reviewer is None:
        return to_login(request)
    if reviewer.caller is not None and not reviewer.caller.sees_all:
        refused = WholeServiceOnly("the dashboard covers every tenant: log in with a reviewer key, or an admin API key")
        return error_page(headers, refused, "/review", reviewer)
    try:
        summary = await run_in_threadpool(dashboard.summary, window)
    except SentinelError as exc:
        return error_page(headers, exc, "/dashboard", reviewer)
    summary["parked_candidates"] = await parked_candidates(router)
    summary["quality_routing"] = await quality_routing(router)
    # How far each judge can be trusted, next to what it costs and how often it says amber: the same numbers as
    # /review/stats (all decisions, not the window's: kappa needs many to mean anything).
    calibration = await run_in_threadpool(review.stats, reviewer.caller)
    return render(
        headers,
        "dashboard.html",
        reviewer=reviewer,
        nav="dashboard",
        summary=summary,
        charts=chart_context(summary),
        window=window,
        windows=list(WINDOWS),
        calibration=calibration,
        min_kappa=MIN_DECISIONS_FOR_KAPPA,
    )
