"""Schemathesis against the app's own OpenAPI spec: whatever it sends, valid or not, no 5xx, and every answer is
one the spec describes (status, content type, headers, body). In-process over ASGI on the embedded default, and
over HTTP on the production shape (PostgreSQL refuses things SQLite stores)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.python import asgi

from sentinel.settings import Settings

#: Enough to reach the branches the schema describes, few enough that the whole spec takes well under a minute.
EXAMPLES_PER_OPERATION = 20
#: Over HTTP every example is a real request; the PostgreSQL run looks for what the database refuses.
EXAMPLES_PER_OPERATION_OVER_HTTP = 10


@pytest.fixture(scope="module")
def api_schema() -> Iterator[schemathesis.BaseSchema]:
    from sentinel.api.app import create_app
    from sentinel.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        if "anonymous_rpm" in Settings.model_fields:
            # Hundreds of requests from one address in seconds: rate limiting is not what this tests.
            patch.setattr(get_settings(), "anonymous_rpm", 1_000_000)
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
        yield schema
        # Schemathesis ran the app's lifespan (embedded workers, the gateway's client): end it.
        asgi.shutdown_lifespans()


def fuzzer(
    operation: schemathesis.APIOperation, mode: GenerationMode, calls: dict[str, int], examples: int
) -> Callable[[], None]:
    """A Hypothesis test sending ``operation`` requests generated in ``mode``, each checked for a 5xx."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        calls[operation.label] += 1
        # Every check schemathesis has (no 5xx; status codes, content types, headers and bodies as documented;
        # invalid data refused; 405 with Allow) but positive_data_acceptance: a request can match the schema and
        # still be refused for what only the server knows (an unknown task or model, an id that does not exist).
        case.call_and_validate(excluded_checks=[positive_data_acceptance], timeout=30)

    return run


MODES = pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])


@MODES
def test_no_request_gets_a_server_error(api_schema: schemathesis.BaseSchema, mode: GenerationMode) -> None:
    fuzz(api_schema, mode, EXAMPLES_PER_OPERATION)


@MODES
def test_no_request_gets_a_server_error_on_postgres(pg_api: str, mode: GenerationMode) -> None:
    fuzz(schemathesis.openapi.from_url(f"{pg_api}/openapi.json"), mode, EXAMPLES_PER_OPERATION_OVER_HTTP)


def fuzz(schema: schemathesis.BaseSchema, mode: GenerationMode, examples: int) -> None:
    failures: list[str] = []
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        calls[operation.label] = 0
        started = time.monotonic()
        try:
            fuzzer(operation, mode, calls, examples)()
        except Unsatisfiable:
            pass  # nothing in this operation can be made invalid (no body, free-form strings only)
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.label} ({time.monotonic() - started:.1f} s):\n{exc}")
    assert not failures, "\n\n".join(failures)
    assert len(calls) >= 10, calls
    assert sum(calls.values()) >= examples // 4 * len(calls), calls
