"""Jobs end to end through the real Redis broker and PostgreSQL, a separate worker, and a fake provider."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import (
    FIXTURES,
    REDIS_URL,
    SENTINEL,
    RunningProcess,
    clean_env,
    delete_redis_keys,
    start_server,
    write_fake_routes,
)

pytestmark = pytest.mark.integration


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def red_product() -> bytes:
    """Grey background and a watermark: two judges fail."""
    image = Image.open(FIXTURES / "product-white-background" / "grey-background.jpg").convert("RGB")
    ImageDraw.Draw(image).text(
        (600, 600),
        "SAMPLE",
        fill=(255, 255, 255),
        anchor="mm",
        font=ImageFont.load_default(size=150),
        stroke_width=3,
        stroke_fill=(60, 60, 60),
    )
    return jpeg(image)


def good_product() -> bytes:
    return (FIXTURES / "product-white-background" / "good.jpg").read_bytes()


def amber_product() -> bytes:
    return (FIXTURES / "product-white-background" / "graded" / "fill-82.jpg").read_bytes()


@pytest.fixture(scope="module")
def stack(postgres_url, tmp_path_factory) -> Iterator[tuple[str, Script]]:
    script = Script()
    tmp = tmp_path_factory.mktemp("jobs")
    with serve(create_app(script)) as fake:
        write_fake_routes(tmp / "routes.yaml", fake.url)
        namespace = f"sentinel-test-{uuid.uuid4().hex[:10]}"
        env = clean_env(
            SENTINEL_DATABASE_URL=postgres_url,
            SENTINEL_REDIS_URL=REDIS_URL,
            SENTINEL_REDIS_NAMESPACE=namespace,
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
            FAKE_KEY="sk-fake",
        )
        server, base = start_server(env, tmp / "api.log")
        worker = RunningProcess([SENTINEL, "worker", "--processes", "1", "--threads", "4"], env, tmp / "worker.log")
        try:
            yield base, script
        finally:
            worker.stop()
            server.stop()
            delete_redis_keys(namespace)


def run_job(base: str, **body) -> dict:
    request = {"task": "product-white-background", "prompt": "a coffee cup", **body}
    created = httpx.post(f"{base}/v1/jobs", json=request, timeout=30)
    assert created.status_code == 202, created.text
    assert created.headers["location"] == f"/v1/jobs/{created.json()['id']}"
    return run_job_to_end(base, created.json()["id"])


def test_red_attempt_is_regenerated_with_guidance_and_the_second_is_green(stack) -> None:
    base, script = stack
    script.images.extend([red_product(), good_product()])
    job = run_job(base)
    assert (job["state"], job["verdict"]) == ("done", "green"), job
    first, second = job["attempts"]
    assert first["verdict"] == "red"
    assert "background border" in first["summary"] and "SAMPLE" in first["summary"]
    assert second["verdict"] == "green"
    # The guidance is what to do, from each failing criterion's fix, never the check's wording, and it is exactly
    # what the provider was sent after the caller's prompt.
    assert "pure white (#FFFFFF) background" in second["guidance"] and "No watermark" in second["guidance"]
    assert "97%" not in second["guidance"] and "SAMPLE" not in second["guidance"]
    assert first["prompt"] == "a coffee cup"
    assert second["prompt"] == f"a coffee cup. {second['guidance']}"
    assert script.requests[-1]["body"]["prompt"] == second["prompt"]
    [chosen] = job["result"]["images"]
    assert (chosen["attempt"], chosen["passing"]) == (2, True)
    assert httpx.get(base + chosen["image"]["url"]).headers["content-type"] == "image/jpeg"


def test_every_attempt_red_ends_done_with_the_best_marked_red(stack) -> None:
    base, script = stack
    script.images.extend([red_product(), red_product()])
    job = run_job(base, max_attempts=2)
    assert (job["state"], job["verdict"]) == ("done", "red")
    assert [a["verdict"] for a in job["attempts"]] == ["red", "red"]
    assert "no attempt passed" in job["reason"]
    [chosen] = job["result"]["images"]
    assert chosen["passing"] is False and chosen["verdict"] == "red"


def test_amber_attempt_stops_regeneration(stack) -> None:
    base, script = stack
    script.images.extend([amber_product()])
    job = run_job(base)
    assert (job["state"], job["verdict"]) == ("done", "amber")
    assert len(job["attempts"]) == 1
    assert "review" in job["reason"]


def test_jobs_list_filters(stack) -> None:
    base, script = stack
    # Jobs of its own, whichever of this module's tests ran before it in this process.
    script.images.extend([good_product()])
    green = run_job(base)
    script.images.extend([amber_product()])
    amber = run_job(base)
    assert (green["verdict"], amber["verdict"]) == ("green", "amber")
    listed = httpx.get(f"{base}/v1/jobs", params={"verdict": "green"}).json()["data"]
    assert all(j["verdict"] == "green" for j in listed)
    assert green["id"] in {j["id"] for j in listed} and amber["id"] not in {j["id"] for j in listed}
    bad = httpx.get(f"{base}/v1/jobs", params={"state": "sleeping"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "state", bad.text


def test_job_input_errors(stack) -> None:
    base, _ = stack
    cases = [
        ({"task": "nope", "prompt": "x"}, 400, "unknown task"),
        ({"task": "object-removal", "prompt": "x"}, 400, "needs a 'source_url' image"),
        ({"task": "text-render", "prompt": "x"}, 400, "needs param 'text'"),
        ({"task": "text-to-image", "prompt": "x", "budget_seconds": 900}, 400, "budget_seconds"),
        ({"task": "text-to-image", "prompt": "x", "model": "dall-e-9"}, 404, "dall-e-9"),
    ]
    for body, status, words in cases:
        response = httpx.post(f"{base}/v1/jobs", json=body)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["error"]["message"]


def test_job_whose_generations_all_fail_is_failed_with_the_reason(stack) -> None:
    base, script = stack
    script.push("unavailable", "unavailable")
    job = run_job(base, max_attempts=2)
    assert job["state"] == "failed"
    assert job["reason"].startswith("no image could be generated: ") and "503" in job["reason"], job["reason"]
    assert [a["state"] for a in job["attempts"]] == ["failed", "failed"]
    assert [a["failure"] for a in job["attempts"]] == ["unavailable", "unavailable"]
    assert all("503" in a["error"] for a in job["attempts"]), [a["error"] for a in job["attempts"]]


def test_a_rejected_key_ends_the_job_without_asking_again(stack) -> None:
    base, script = stack
    script.push("bad_auth")
    job = run_job(base, max_attempts=2)
    assert job["state"] == "failed"
    assert "401" in job["reason"], job["reason"]
    assert [(a["state"], a["failure"]) for a in job["attempts"]] == [("failed", "auth")]


def test_openai_sdk_with_a_task_gets_judged_images(stack) -> None:
    import base64

    import openai

    base, script = stack
    script.images.extend([red_product(), good_product()])
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)
    raw = client.images.with_raw_response.generate(
        prompt="a coffee cup",
        response_format="b64_json",
        extra_body={"sentinel": {"task": "product-white-background"}},
    )
    images = raw.parse()
    assert len(images.data) == 1
    assert base64.b64decode(images.data[0].b64_json) == good_product()
    extension = images.model_extra["sentinel"]
    [verdict] = extension["verdicts"]
    assert (verdict["verdict"], verdict["passing"], verdict["attempt"]) == ("green", True, 2)
    assert extension["state"] == "done"
    assert raw.headers["x-sentinel-attempts"] == "2"
    assert raw.headers["x-sentinel-provider"] == "fake"


def test_review_decision_on_an_amber_job_sets_its_verdict(stack) -> None:
    base, script = stack
    script.images.extend([amber_product()])
    job = run_job(base)
    assert job["verdict"] == "amber"
    [attempt] = job["attempts"]
    decided = httpx.post(
        f"{base}/v1/review/{attempt['evaluation_id']}/decision",
        json={"decision": "reject", "note": "cup is cut off"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["job_id"] == job["id"]
    after = httpx.get(f"{base}/v1/jobs/{job['id']}").json()
    assert after["verdict"] == "red"
    assert after["reason"] == "rejected by anonymous: cup is cut off"  # no API keys: nobody to name


def test_rejection_with_regeneration_reopens_the_job_with_the_reviewers_guidance(stack) -> None:
    base, script = stack
    script.images.extend([amber_product(), good_product()])
    job = run_job(base)
    assert job["verdict"] == "amber"
    [attempt] = job["attempts"]
    decided = httpx.post(
        f"{base}/v1/review/{attempt['evaluation_id']}/decision",
        json={"decision": "reject", "note": "show the whole cup", "regenerate": True},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["regenerating"] is True
    after = run_job_to_end(base, job["id"])
    assert (after["state"], after["verdict"]) == ("done", "green"), after["attempts"]
    first, second = after["attempts"]
    assert first["verdict"] == "red" and first["review"]["reviewer"] == "anonymous"
    assert second["verdict"] == "green"
    assert "show the whole cup" in second["guidance"]
    assert "show the whole cup" in script.requests[-1]["body"]["prompt"]
    assert "dee" not in script.requests[-1]["body"]["prompt"]  # the provider never learns who reviewed
    assert after["result"]["images"][0]["attempt"] == 2


def run_job_to_end(base: str, job_id: str) -> dict:
    for _ in range(6):
        job = httpx.get(f"{base}/v1/jobs/{job_id}?wait=20", timeout=30).json()
        if job["state"] in ("done", "failed", "expired"):
            return job
    raise AssertionError(f"job did not finish: {job}")


def test_budget_runs_out_with_a_slow_provider(stack) -> None:
    # Last in the module: the expired job's provider call is still open when it returns, and would take the
    # behaviour a following test queued on the shared fake.
    base, script = stack
    script.slow_seconds = 8
    script.push("slow")
    job = run_job(base, budget_seconds=2)
    assert job["state"] == "expired"
    assert "budget of 2 s ran out" in job["reason"]
    assert job["attempts"][0]["state"] in ("generating", "failed")
