"""Jobs hold to the API's rules on what a caller sends: a source_url or mask_url serving a web page is refused under
that field naming the URL (it was refused under ``source`` / ``mask`` with "the bytes are text"), ``?wait=nan`` is
refused as not a finite number (it was "less than or equal to 60"), and a key given twice in a form's ``params``
JSON is refused naming it (the last one was taken)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.page_host import fetching_from_loopback, serving_pages


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    with serving_pages() as base:
        yield base


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fetching_from_loopback(tmp_path_factory.mktemp("job-inputs")) as base:
        yield base


@pytest.mark.parametrize(("page", "field"), [("source", "source_url"), ("mask", "mask_url")])
def test_an_edit_jobs_url_serving_a_page_is_refused_under_its_field(api: str, host: str, page: str, field: str) -> None:
    urls = {"source_url": f"{host}/photo.png", "mask_url": f"{host}/photo.png"} | {field: f"{host}/login"}
    body = {"task": "object-removal", "prompt": "remove the cup"} | urls
    answer = httpx.post(f"{api}/v1/jobs", json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["param"] == field
    assert f"{field} {host}/login served text/html (a web page" in error["message"], error["message"]


def test_wait_nan_on_a_job_is_refused_as_not_finite(api: str) -> None:
    answer = httpx.get(f"{api}/v1/jobs/job_unknown?wait=nan", timeout=30)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "wait" and "finite number" in error["message"]


def test_a_key_twice_in_a_job_forms_params_is_refused(api: str) -> None:
    fields = {"task": "text-render", "prompt": "a sign", "params": '{"text": "OPEN", "text": "SHUT"}'}
    # Sent as multipart (a None file name makes a plain text part), as the jobs form is.
    answer = httpx.post(f"{api}/v1/jobs", files={name: (None, value) for name, value in fields.items()}, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "params.text"
