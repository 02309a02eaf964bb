"""One place where errors become JSON: ``{"error": {"message", "type", "param", "code", "field"?}}``.

The shape is OpenAI's, and so are the type names where OpenAI has one for the same meaning: ``invalid_request_error``
for a request the caller has to change, ``server_error`` for our own fault. Types OpenAI has no word for
(``not_found``, ``bad_image``, ``service_unavailable``...) keep Sentinel's. ``code`` says which rule was broken, in
OpenAI's codes where it has them (``invalid_value``, ``unknown_parameter``, ``missing_required_parameter``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles

from sentinel.errors import SentinelError
from sentinel.http.responses import JSONResponse

logger = logging.getLogger(__name__)

#: OpenAI's type for a request the caller has to change.
INVALID_REQUEST = "invalid_request_error"
#: OpenAI's type for a fault on the server's side.
SERVER_ERROR = "server_error"
#: OpenAI's code for a field whose value was refused.
INVALID_VALUE = "invalid_value"

#: Where FastAPI says a refused parameter came from (the first part of its ``loc``): not part of its name.
PARAMETER_SOURCES = ("body", "query", "path", "header", "cookie")

#: pydantic's error types → OpenAI's codes; anything else is an invalid value.
VALIDATION_CODES = {
    "missing": "missing_required_parameter",
    "extra_forbidden": "unknown_parameter",
}


def validation_code(pydantic_type: str) -> str:
    """OpenAI's ``code`` for a pydantic validation error's type."""
    return VALIDATION_CODES.get(pydantic_type, INVALID_VALUE)


def error_response(
    status: int,
    error_type: str,
    message: str,
    field: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    details: dict[str, object] | None = None,
) -> JSONResponse:
    if code is None and field and error_type == INVALID_REQUEST:
        # A refused value of a named field: OpenAI's answer always has a code for it.
        code = INVALID_VALUE
    body: dict[str, object] = {"message": message, "type": error_type, "param": field, "code": code}
    if field:
        body["field"] = field  # Sentinel's name for ``param``, kept for existing clients
    if details:
        body = details | body  # the standard fields win over an extra one of the same name
    return JSONResponse({"error": body}, status_code=status, headers=headers)


#: The methods a 405's Allow header may list.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: one path may have several routes (GET and POST /v1/jobs),
    and the router's own 405 names only the first one's."""
    routes = request.app.router.routes
    # A mount (the static files) has moved root_path by the time its 405 is raised; match from the app's root.
    scope = request.scope | {"root_path": request.scope.get("app_root_path", request.scope.get("root_path", ""))}
    allowed: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            # A mount takes every method; the static files behind it answer GET and HEAD only.
            if isinstance(route.app, StaticFiles) and route.matches(scope)[0] == Match.FULL:
                allowed |= {"GET", "HEAD"}
            continue
        allowed |= {method for method in HTTP_METHODS if route.matches(scope | {"method": method})[0] == Match.FULL}
    return [method for method in HTTP_METHODS if method in allowed]


def route_without_slash(request: Request) -> str | None:
    """The path a request that matched no route meant, when it is the path of a route with one trailing slash too
    many (``POST /v1/images/generations/``); None otherwise."""
    path = request.url.path
    if not path.endswith("/") or path == "/":
        return None
    meant = path.rstrip("/") or "/"
    scope = request.scope | {"path": meant}
    for route in request.app.router.routes:
        if isinstance(route, Mount):
            continue
        if any(route.matches(scope | {"method": method})[0] == Match.FULL for method in HTTP_METHODS):
            return meant
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SentinelError)
    async def sentinel_error(_: Request, exc: SentinelError) -> JSONResponse:
        return error_response(
            exc.status_code, exc.error_type, exc.message, exc.field, exc.code, exc.headers, exc.details
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A query, path or header parameter (or a body FastAPI parsed) with a value the route refuses: a 400 naming
        # the parameter as sent, as every other value the caller must change is (parse_body, the services' checks).
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if p not in PARAMETER_SOURCES]
        field = ".".join(loc) or None
        message = f"Invalid '{field}': {first.get('msg')}" if field else str(first.get("msg"))
        return error_response(400, INVALID_REQUEST, message, field, validation_code(str(first.get("type", ""))))

    # Starlette's router answers a path with a trailing slash too many with a 307 to the path without it. The OpenAI
    # SDK follows it and POSTs again, to a Location built from the Host header (http:// behind a TLS proxy, where
    # the redirect drops the Authorization header): the API's paths answer a clear 404 instead (see http_error),
    # as OpenAI's do; the pages keep the redirect.
    app.router.redirect_slashes = False

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and (meant := route_without_slash(request)) is not None:
            if not meant.startswith("/v1/"):
                return RedirectResponse(request.url.replace(path=meant), status_code=307)
            return error_response(
                404,
                "not_found",
                f"Unknown URL: {request.method} {request.url.path} has a trailing slash; the endpoint is {meant}",
                code="unknown_url",
            )
        kind = "not_found" if exc.status_code == 404 else INVALID_REQUEST
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            kind = "method_not_allowed"
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, kind, str(exc.detail), headers=headers or None)

    @app.exception_handler(ClientDisconnect)
    async def client_disconnect(_: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client hung up before its body was all sent: nobody reads this answer, but logs and metrics
        # should count a client's abort, not a server error.
        return error_response(400, INVALID_REQUEST, "the client disconnected before sending the whole body")

    @app.exception_handler(OperationalError)
    async def database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        # The connection was cut (database restarting, failing over, connections terminated): the pool reconnects
        # on the next checkout, so the same request will most likely work in a moment.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        logger.warning("database unavailable: %s", reason)
        message = "the database is unavailable right now; try again in a moment"
        return error_response(503, "service_unavailable", message, headers={"Retry-After": "1"})

    @app.exception_handler(PoolTimeout)
    async def database_busy(_: Request, exc: PoolTimeout) -> JSONResponse:
        # No pooled connection came free within SENTINEL_DATABASE_TIMEOUT_SECONDS: the pool's connections are all
        # held by requests waiting on a database that stalls. The same answer as a database that is away.
        logger.warning("database unavailable: no pooled connection came free (%s)", str(exc).splitlines()[0])
        message = "the database is unavailable right now; try again in a moment"
        return error_response(503, "service_unavailable", message, headers={"Retry-After": "1"})

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (a NUL character in an id or a filter, a number out
        # of a column's range): the caller's to fix, not a server fault.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        logger.warning("database refused a request's value: %s", reason)
        return error_response(400, INVALID_REQUEST, f"the database refused a value of this request: {reason}")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        message = "internal error; the server log has the details"
        return error_response(500, SERVER_ERROR, message, code="internal_error")
