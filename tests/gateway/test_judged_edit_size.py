"""An explicit `size` on a judged SDK edit (`images.edit(..., size=..., extra_body={"sentinel": {"task": ...}})`):
the edit job makes its result at that size, and a size the route cannot produce, or one the task's size check could
never pass (another aspect ratio than the source's), is 400 naming `size` before any job exists."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml
from PIL import Image

from tests.conftest import FIXTURES, clean_env, start_server
from tests.jobs.test_edit_jobs import openai_style

REMOVAL = FIXTURES / "object-removal"  # a 512×384 photo and its mask


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("judged-edit-size")
    routes: dict[str, Any] = {
        "providers": {"local": {"kind": "local"}},
        "models": {
            "sentinel-local": {
                "sizes": ["1024x768", "128x96", "512x512"],
                "candidates": [{"target": "local:procedural"}],
            }
        },
        "default_model": "sentinel-local",
    }
    (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"))
    server, url = start_server(env, tmp / "serve.log")
    try:
        yield url
    finally:
        server.stop()


def jobs(base: str) -> list[str]:
    answer = httpx.get(f"{base}/v1/jobs", params={"task": "object-removal", "limit": 500}, timeout=10)
    assert answer.status_code == 200, answer.text
    return [job["id"] for job in answer.json()["data"]]


def judged_edit(base: str, size: str, **extra: Any) -> Any:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused-by-the-embedded-default", max_retries=0)
    return client.images.with_raw_response.edit(
        model="sentinel-local",
        image=("source.png", (REMOVAL / "source.png").read_bytes(), "image/png"),
        mask=("mask.png", openai_style((REMOVAL / "mask.png").read_bytes()), "image/png"),
        prompt="remove the ball",
        size=size,  # type: ignore[arg-type]
        response_format="b64_json",
        extra_body={"sentinel": {"task": "object-removal", "max_attempts": 1}},
        **extra,
    )


def test_a_judged_edit_is_made_at_the_size_asked_for(base: str) -> None:
    raw = judged_edit(base, "1024x768")
    result = raw.parse()
    assert result.model_extra["sentinel"]["state"] == "done"
    edited = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert edited.size == (1024, 768)  # not the source's 512×384
    job = httpx.get(f"{base}/v1/jobs/{raw.headers['x-sentinel-job-id']}", timeout=10).json()
    assert job["params"]["width"] == 1024 and job["params"]["height"] == 768


@pytest.mark.parametrize(
    ("size", "words"),
    [
        ("640x480", "not supported by model 'sentinel-local'"),  # the route cannot produce it
        ("512x512", "aspect ratio"),  # the route can, but the edit would no longer line up with its source
        ("128x96", "at least half"),  # the task's size check fails anything under half the source's sides
    ],
)
def test_a_size_the_job_cannot_deliver_is_400_naming_size(base: str, size: str, words: str) -> None:
    jobs_before = jobs(base)
    with pytest.raises(openai.BadRequestError) as refused:
        judged_edit(base, size)
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == "size" and words in error["message"], error
    assert jobs(base) == jobs_before  # refused before any job was made
