"""Edit jobs: `POST /v1/jobs` for object removal and background replacement, with the source and mask uploaded or
given by URL, edited through the router's edit-capable candidates, judged against source and mask, and regenerated
with guidance while red. In-process on the embedded defaults (the offline `local` provider edits), and through
`sentinel serve` against the fake OpenAI provider where a scripted edit must be red first."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import threading
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
import yaml
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel_fakes.openai import create_app as create_openai
from sentinel_fakes.server import Script, serve
from tests.conftest import FIXTURES, REPO, clean_env, start_server
from tests.test_readme import commands

REMOVAL = FIXTURES / "object-removal"
REPLACE = FIXTURES / "background-replace"


def removal_files(mask: bytes | None = None) -> dict[str, tuple[str, bytes]]:
    return {
        "source": ("source.png", (REMOVAL / "source.png").read_bytes()),
        "mask": ("mask.png", mask if mask is not None else (REMOVAL / "mask.png").read_bytes()),
    }


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 0).save(buffer, "PNG")
    return buffer.getvalue()


def error_of(response: httpx.Response) -> dict:
    return response.json()["error"]


def finished(client, job_id: str) -> dict:
    job = client.get(f"/v1/jobs/{job_id}?wait=30").json()
    assert job["state"] in ("done", "failed", "expired"), job
    return job


# --- in process, on the offline `local` provider ---------------------------------------------------------------


def test_an_object_removal_job_on_the_local_provider_reaches_a_verdict(client) -> None:
    created = client.post(
        "/v1/jobs", data={"task": "object-removal", "prompt": "remove the ball"}, files=removal_files()
    )
    assert created.status_code == 202, created.text
    job = finished(client, created.json()["id"])
    assert job["state"] == "done" and job["verdict"] in ("green", "amber", "red"), job
    source, mask = job["source"], job["mask"]
    assert client.get(source["url"]).content == (REMOVAL / "source.png").read_bytes()
    first = job["attempts"][0]
    assert first["provider"] == "local" and first["image"]["id"] != source["id"]
    # The panel judged the edit against the job's own source and mask (the edit judges ran).
    evaluation = client.get(first["evaluation_url"]).json()
    assert (evaluation["source"]["id"], evaluation["mask"]["id"]) == (source["id"], mask["id"])
    assert "edit" in {vote["judge"] for vote in evaluation["judges"]}, evaluation


def test_a_background_replace_job_changes_the_background_and_keeps_the_subject(client) -> None:
    """The rubric's mask marks the subject to keep; the provider is asked to change everything else."""
    created = client.post(
        "/v1/jobs",
        data={
            "task": "background-replace",
            "prompt": "the product on a plain white background",
            "params": json.dumps({"color": "#ffffff"}),
        },
        files={
            "source": ("source.png", (REPLACE / "source.png").read_bytes()),
            "mask": ("mask.png", (REPLACE / "mask.png").read_bytes()),
        },
    )
    assert created.status_code == 202, created.text
    job = finished(client, created.json()["id"])
    assert (job["state"], job["verdict"]) == ("done", "green"), job["attempts"]
    assert job["params"] == {"color": "#ffffff"}


def test_a_mask_of_another_size_is_refused_naming_both_sizes(client) -> None:
    before = client.get("/v1/jobs?task=object-removal&limit=500").json()["data"]
    with Image.open(REMOVAL / "source.png") as source:
        width, height = source.size
    response = client.post(
        "/v1/jobs", data={"task": "object-removal", "prompt": "x"}, files=removal_files(mask=png(width // 2, height))
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert f"the mask is {width // 2}×{height} but the source is {width}×{height}" in error["message"]
    assert error["field"] == "mask"
    assert client.get("/v1/jobs?task=object-removal&limit=500").json()["data"] == before  # nothing stored


def test_an_edit_job_needs_its_source_and_mask(client) -> None:
    files = removal_files()
    del files["mask"]
    response = client.post("/v1/jobs", data={"task": "object-removal", "prompt": "x"}, files=files)
    assert response.status_code == 400
    assert error_of(response)["field"] == "mask"
    assert "needs a 'mask' image" in error_of(response)["message"]
    by_json = client.post("/v1/jobs", json={"task": "object-removal", "prompt": "x"})
    assert by_json.status_code == 400
    # A JSON body names its own field (source_url), not the multipart file's.
    assert "needs a 'source_url' image" in error_of(by_json)["message"]


def test_a_job_that_generates_takes_no_source(client) -> None:
    response = client.post("/v1/jobs", data={"task": "text-to-image", "prompt": "a ball"}, files=removal_files())
    assert response.status_code == 400
    assert "takes no 'source' image" in error_of(response)["message"]


def test_a_source_that_is_not_an_image_is_refused(client) -> None:
    files = removal_files() | {"source": ("source.png", b"<html>not an image</html>")}
    response = client.post("/v1/jobs", data={"task": "object-removal", "prompt": "x"}, files=files)
    assert response.status_code == 422  # as for an evaluation's image: well-formed, but not an image
    assert error_of(response)["field"] == "source"
    assert "text, not an image" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("data", "files", "words"),
    [
        ({"task": "object-removal", "prompt": "x", "colour": "red"}, None, "Unknown parameter: 'colour'"),
        ({"task": "object-removal", "prompt": "x", "params": "{not json"}, None, "'params' is not valid JSON"),
        ({"task": "object-removal", "prompt": "x", "n": "many"}, None, "Invalid 'n'"),
        ({"prompt": "x"}, None, "'task'"),
        ({"task": "object-removal"}, {"prompt": ("p.txt", b"x")}, "form field 'prompt' must be text"),
        ({"task": "object-removal", "prompt": ["x", "y"]}, None, "'prompt' was sent more than once"),
    ],
)
def test_a_malformed_multipart_job_is_refused_with_its_field(client, data, files, words) -> None:
    response = client.post("/v1/jobs", data=data, files=removal_files() | (files or {}))
    assert response.status_code == 400, response.text
    assert words in error_of(response)["message"]


def test_numbers_sent_as_form_fields_are_read_as_numbers(client) -> None:
    created = client.post(
        "/v1/jobs",
        data={"task": "object-removal", "prompt": "remove the ball", "n": "2", "max_attempts": "1"},
        files=removal_files(),
    )
    assert created.status_code == 202, created.text
    assert (created.json()["n"], created.json()["max_attempts"]) == (2, 1)
    assert finished(client, created.json()["id"])["state"] == "done"


class Bait:
    """An image server on a private address: a refused URL must never reach it."""

    hits: list[str] = []

    @classmethod
    def app(cls) -> Starlette:
        async def image(request: Request) -> Response:
            cls.hits.append(request.url.path)
            name = request.path_params["name"]
            return Response((REMOVAL / name).read_bytes(), media_type="image/png")

        return Starlette(routes=[Route("/{name}", image)])


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    with serve(Bait.app()) as server:
        yield server.url


def test_source_urls_on_private_addresses_are_refused_before_any_request(client, image_server) -> None:
    Bait.hits.clear()
    body = {
        "task": "object-removal",
        "prompt": "remove the ball",
        "source_url": f"{image_server}/source.png",
        "mask_url": f"{image_server}/mask.png",
    }
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "disallowed_url" or error.get("code") == "disallowed_url", error
    assert error["field"] in ("source_url", "mask_url")
    assert Bait.hits == []
    # A job that is wrong whatever the images hold is refused before either URL is asked for.
    wrong = client.post("/v1/jobs", json=body | {"model": "no-such-model"})
    assert wrong.status_code == 404 and Bait.hits == []


def test_an_idempotent_retry_makes_one_job(client) -> None:
    headers = {"Idempotency-Key": "edit-job-retry-1"}
    data = {"task": "object-removal", "prompt": "remove the ball"}
    first = client.post("/v1/jobs", data=data, files=removal_files(), headers=headers)
    again = client.post("/v1/jobs", data=data, files=removal_files(), headers=headers)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    # The same key with another mask is another request: refused, not answered with the first job.
    with Image.open(REMOVAL / "mask.png") as mask:
        other = io.BytesIO()
        mask.rotate(90).save(other, "PNG")
    different = client.post("/v1/jobs", data=data, files=removal_files(mask=other.getvalue()), headers=headers)
    assert different.status_code == 422, different.text
    jobs = client.get("/v1/jobs?task=object-removal&limit=500").json()["data"]
    assert [j["id"] for j in jobs].count(first.json()["id"]) == 1


# --- `sentinel serve`: a scripted provider, URL inputs, and the README's command ---------------------------------


@pytest.fixture(scope="module")
def edit_server(tmp_path_factory, image_server) -> Iterator[tuple[str, Script]]:
    """`sentinel serve` on the embedded defaults with two models: `house`, the fake OpenAI provider (which edits),
    and the default `sentinel-local`; URLs on this machine may be fetched."""
    tmp = tmp_path_factory.mktemp("edit-jobs")
    script = Script()
    with serve(create_openai(script)) as fake:
        routes = {
            "providers": {
                "local": {"kind": "local"},
                "fake": {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key_env": "FAKE_KEY"},
                "painter": {"kind": "google", "base_url": fake.url, "api_key_env": "FAKE_KEY"},
            },
            "models": {
                "sentinel-local": {"sizes": ["1024x1024"], "candidates": [{"target": "local:procedural"}]},
                "house": {"candidates": [{"target": "fake:gpt-image-1"}]},
                # Generates only: never asked for an edit.
                "painter": {"candidates": [{"target": "painter:imagen-4.0-generate-001"}]},
            },
            "default_model": "sentinel-local",
            "max_passes": 1,
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
            FAKE_KEY="sk-fake",
        )
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield base, script
        finally:
            server.stop()


def test_a_red_edit_is_regenerated_with_guidance(edit_server) -> None:
    base, script = edit_server
    script.requests.clear()
    # The first edit comes back unchanged (the object is still there: red), the second removes it.
    script.images.extend([(REMOVAL / "source.png").read_bytes(), (REMOVAL / "good.png").read_bytes()])
    created = httpx.post(
        f"{base}/v1/jobs",
        data={"task": "object-removal", "prompt": "remove the ball", "model": "house"},
        files=removal_files(),
    )
    assert created.status_code == 202, created.text
    job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=30", timeout=40).json()
    assert (job["state"], job["verdict"]) == ("done", "green"), job
    first, second = job["attempts"]
    assert (first["verdict"], second["verdict"]) == ("red", "green")
    assert first["prompt"] == "remove the ball" and first["guidance"] is None
    # The failing criterion's fix, from the rubric, leads the second request.
    assert "Remove the object inside the masked region completely" in second["guidance"]
    assert second["prompt"].startswith("remove the ball") and second["guidance"] in second["prompt"]
    edits = [r for r in script.requests if r["path"] == "/v1/images/edits"]
    assert len(edits) == 2 and all(r["body"]["image"] for r in edits)
    assert job["result"]["images"][0]["attempt"] == 2


def test_source_and_mask_by_url_are_fetched_and_judged(edit_server, image_server) -> None:
    base, _ = edit_server
    Bait.hits.clear()
    created = httpx.post(
        f"{base}/v1/jobs",
        json={
            "task": "object-removal",
            "prompt": "remove the ball",
            "source_url": f"{image_server}/source.png",
            "mask_url": f"{image_server}/mask.png",
        },
    )
    assert created.status_code == 202, created.text
    assert sorted(Bait.hits) == ["/mask.png", "/source.png"]
    job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=30", timeout=40).json()
    assert job["state"] == "done" and job["verdict"] is not None
    served = httpx.get(f"{base}{job['source']['url']}")
    assert served.content == (REMOVAL / "source.png").read_bytes()


def test_a_model_that_cannot_edit_is_refused_up_front(edit_server) -> None:
    base, _ = edit_server
    response = httpx.post(
        f"{base}/v1/jobs", data={"task": "object-removal", "prompt": "x", "model": "painter"}, files=removal_files()
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["field"], error["code"]) == ("model", "unsupported_operation")
    assert "model 'painter' cannot serve image edits" in error["message"]


def test_readme_edit_job_curl_runs(edit_server) -> None:
    base, _ = edit_server
    [post] = commands("curl -s -F task=object-removal")
    command = post.replace("http://127.0.0.1:8000", base)
    result = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, check=True)
    created = json.loads(result.stdout)
    assert created["state"] == "queued" and created["source"] is not None, result.stdout
    job = httpx.get(f"{base}/v1/jobs/{created['id']}?wait=30", timeout=40).json()
    assert job["state"] == "done" and job["attempts"][0]["provider"] == "local"


def test_concurrent_identical_uploads_with_one_key_make_one_job(edit_server) -> None:
    base, _ = edit_server
    ids: list[str] = []

    def send() -> None:
        response = httpx.post(
            f"{base}/v1/jobs",
            data={"task": "object-removal", "prompt": "remove the ball"},
            files=removal_files(),
            headers={"Idempotency-Key": "edit-job-concurrent"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 4 and len(set(ids)) == 1


def openai_style(mask: bytes) -> bytes:
    """The fixture's mask (white = remove) OpenAI's way: fully transparent where the image is to change."""
    with Image.open(io.BytesIO(mask)) as opened:
        region = np.asarray(opened.convert("L")) > 127
    rgba = np.zeros((*region.shape, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(region, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def test_sdk_images_edit_with_a_sentinel_task_runs_a_judged_edit_job(edit_server) -> None:
    base, _ = edit_server
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused-by-the-embedded-default", max_retries=0)
    mask = (REMOVAL / "mask.png").read_bytes()
    raw = client.images.with_raw_response.edit(
        model="sentinel-local",
        image=("source.png", (REMOVAL / "source.png").read_bytes(), "image/png"),
        mask=("mask.png", openai_style(mask), "image/png"),
        prompt="remove the ball",
        response_format="b64_json",
        extra_body={"sentinel": {"task": "object-removal", "max_attempts": 2}},
    )
    result = raw.parse()
    extension = result.model_extra["sentinel"]
    assert extension["state"] == "done" and extension["verdicts"][0]["verdict"] in ("green", "amber", "red")
    edited = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    with Image.open(REMOVAL / "source.png") as source:
        assert edited.size == source.size  # an edit keeps its source's size
    job = httpx.get(f"{base}/v1/jobs/{raw.headers['x-sentinel-job-id']}").json()
    assert job["task"] == "object-removal" and job["attempts"][0]["provider"] == "local"
    # The job keeps the mask in the task's own convention (white = remove), so its judges read the caller's region.
    kept = httpx.get(f"{base}{job['mask']['url']}").content
    with Image.open(io.BytesIO(kept)) as ours, Image.open(io.BytesIO(mask)) as theirs:
        assert (np.asarray(ours.convert("L")) > 127).tolist() == (np.asarray(theirs.convert("L")) > 127).tolist()


def test_sdk_images_edit_with_a_task_that_edits_nothing_is_refused(edit_server) -> None:
    base, _ = edit_server
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused-by-the-embedded-default", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(
            model="sentinel-local",
            image=("source.png", (REMOVAL / "source.png").read_bytes(), "image/png"),
            prompt="remove the ball",
            extra_body={"sentinel": {"task": "text-to-image"}},
        )
    assert "takes no 'source' image" in str(refused.value)


def test_an_edit_jobs_source_and_mask_belong_to_the_callers_tenant(tmp_path) -> None:
    from tests.tenancy.test_tenancy import create_key

    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    acme = create_key(env, "acme-app", "generate,evaluate", "acme")
    globex = create_key(env, "globex-app", "generate,evaluate", "globex")
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        created = httpx.post(
            f"{base}/v1/jobs",
            data={"task": "object-removal", "prompt": "remove the ball"},
            files=removal_files(),
            headers={"Authorization": f"Bearer {acme}"},
        )
        assert created.status_code == 202, created.text
        for name in ("source", "mask"):
            path = f"/v1/images/{created.json()[name]['id']}"
            assert httpx.get(base + path, headers={"Authorization": f"Bearer {acme}"}).status_code == 200
            assert httpx.get(base + path, headers={"Authorization": f"Bearer {globex}"}).status_code == 404
    finally:
        server.stop()


# --- the image store keeps a running job's inputs ----------------------------------------------------------------


def test_storage_gc_keeps_the_source_and_mask_of_a_job_until_it_has_long_finished(tmp_path) -> None:
    """Before its first attempt is judged only the job names its source and mask: gc must not take them."""
    from datetime import timedelta

    from sqlalchemy import update
    from sqlmodel import Session

    from sentinel.models import Job, utcnow
    from sentinel.settings import Settings
    from sentinel.store.maintenance import StorageMaintenance
    from sentinel.wiring import build_services

    services = build_services(Settings(data_dir=tmp_path))
    try:
        source, mask = ((REMOVAL / name).read_bytes() for name in ("source.png", "mask.png"))
        infos = [services.images.inspect(data, name) for data, name in ((source, "source"), (mask, "mask"))]
        with Session(services.engine) as session:
            for info, data in zip(infos, (source, mask), strict=True):
                services.images.store(session, info, data)
            session.add(
                Job(
                    id="job_edit_gc",
                    task="object-removal",
                    prompt="remove the ball",
                    source_image_id=infos[0].sha256,
                    mask_image_id=infos[1].sha256,
                    deadline_at=utcnow() + timedelta(minutes=5),
                )
            )
            session.commit()
        gc = StorageMaintenance(services.engine, services.images.blobs)
        assert gc.gc(grace=timedelta(0)).deleted == 0
        assert gc.gc(grace=timedelta(0), retention=timedelta(days=7)).purged == 0
        assert services.images.read(infos[0].sha256) == source

        # Finished long ago: under a retention policy its inputs go like its attempts' images.
        finished = utcnow() - timedelta(days=30)
        with Session(services.engine) as session:
            session.execute(update(Job).where(Job.id == "job_edit_gc").values(state="done", finished_at=finished))
            session.commit()
        assert gc.gc(grace=timedelta(0), retention=timedelta(days=7)).purged == 2
    finally:
        services.engine.dispose()
