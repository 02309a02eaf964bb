"""Errors as the API words them: OpenAI's shape parsed into SentinelAPIError (status, type, message, param), and
a proxy's own non-JSON error page still readable."""

from __future__ import annotations

import pytest

from sentinel.client import Sentinel, SentinelAPIError
from tests.client.fault_proxy import Fault, fault_proxy
from tests.conftest import FIXTURES

GOOD = FIXTURES / "product-white-background" / "good.jpg"


def test_an_unknown_task_names_the_field(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel, pytest.raises(SentinelAPIError) as raised:
        sentinel.evaluate(GOOD, "no-such-task")
    error = raised.value
    assert (error.status_code, error.type, error.param) == (400, "unknown_task", "task")
    assert "no-such-task" in error.message and "no-such-task" in str(error)


def test_a_job_field_out_of_range_is_a_400_naming_it(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel, pytest.raises(SentinelAPIError) as raised:
        sentinel.create_job("product-white-background", "a bottle", n=9)
    error = raised.value
    assert (error.status_code, error.type, error.param, error.code) == (
        400,
        "invalid_request_error",
        "n",
        "invalid_value",
    )
    assert error.error["message"] == error.message


def test_an_unknown_evaluation_is_not_found(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel, pytest.raises(SentinelAPIError) as raised:
        sentinel.get_evaluation("ev_does_not_exist")
    assert (raised.value.status_code, raised.value.type) == (404, "not_found")


def test_a_proxys_html_error_page_is_an_error_with_its_text(sentinel_url: str) -> None:
    with fault_proxy(sentinel_url) as proxy:
        proxy.push("GET", "/v1/jobs", Fault(502, body=b"<html>502 Bad Gateway</html>", content_type="text/html"))
        with Sentinel(proxy.url, max_retries=0) as sentinel, pytest.raises(SentinelAPIError) as raised:
            sentinel.list_jobs()
    error = raised.value
    assert (error.status_code, error.type, error.param) == (502, "http_error", None)
    assert "502 Bad Gateway" in error.message
