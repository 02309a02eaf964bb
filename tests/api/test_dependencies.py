"""Endpoints get their services as FastAPI dependencies (each domain's ``deps`` module, and
:mod:`sentinel.http.deps`), never by reaching into ``app.state``: what an endpoint needs is in its signature, and a
test can hand it something else."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Annotated, get_args, get_origin

from fastapi import Request
from fastapi.params import Depends
from starlette.routing import BaseRoute, Route

import sentinel


def dependency_modules() -> list[ModuleType]:
    """``sentinel.http.deps`` and every domain's ``sentinel.<domain>.deps``."""
    packages = [info.name for info in pkgutil.iter_modules(sentinel.__path__) if info.ispkg]
    found = [f"sentinel.{name}.deps" for name in packages if importlib.util.find_spec(f"sentinel.{name}.deps")]
    return [importlib.import_module(name) for name in sorted(found)]


def routes(candidates: Iterable[BaseRoute]) -> Iterator[Route]:
    """Every route with an endpoint function (JSON API, pages and /healthz alike); not the /static mount."""
    for route in candidates:
        included = getattr(route, "original_router", None)  # newer FastAPI keeps an included router whole
        if included is not None:
            yield from routes(included.routes)
        elif isinstance(route, Route):  # FastAPI's APIRoute too
            yield route


def test_no_endpoint_reads_app_state() -> None:
    from sentinel.api.app import create_app

    found = list(routes(create_app().routes))
    assert len(found) > 20
    readers = [
        f"{','.join(sorted(route.methods or ()))} {route.path}"
        for route in found
        if "app.state" in inspect.getsource(route.endpoint)
    ]
    assert not readers, (
        f"these endpoints read app.state; take a dependency from the domain's deps module instead: {readers}"
    )


def test_every_provider_hands_out_the_service_the_app_built(client) -> None:
    request = Request({"type": "http", "app": client.app, "headers": []})  # started: the lifespan built them all
    provided = {}
    aliases = [(name, alias) for module in dependency_modules() for name, alias in vars(module).items()]
    for name, alias in aliases:
        if get_origin(alias) is Annotated:
            service_type, depends = get_args(alias)
            assert isinstance(depends, Depends), name
            # Only the request: asking for a service adds no parameter to the OpenAPI document.
            assert list(inspect.signature(depends.dependency).parameters) == ["request"], name
            provided[name] = asyncio.run(depends.dependency(request))
            assert isinstance(provided[name], service_type), (name, type(provided[name]))
    assert {"AppServices", "Evaluations", "Jobs", "Reviews", "Gateway", "Dashboard", "Keys", "Idempotency"} <= set(
        provided
    )
    # One of each: the review service acts on the same evaluations the evaluation endpoints serve.
    assert provided["Reviews"].evaluations is provided["Evaluations"]
