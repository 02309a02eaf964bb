"""Every stored thing has an owner: two tenants on one real `sentinel serve`, the first key made with the CLI.

Tenant acme has two keys (a1 made the rows, a2 shares them), globex has one (b), and an admin key sees everything.
Another tenant's job, evaluation, image or review item answers 404, exactly as a missing one does.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sentinel.keys.service import KeyService
from sentinel.settings import Settings
from sentinel.store.signing import UrlSigner
from sentinel.wiring import build_services
from tests.conftest import FIXTURES, SENTINEL, clean_env, own_postgres_database, start_server


@dataclass
class Tenants:
    base: str
    data_dir: Path
    keys: dict[str, str]
    #: What a1 (tenant acme) made: a finished job, an amber evaluation and the image ids they name.
    job_id: str
    prompt: str
    evaluation_id: str
    image_id: str
    image_url: str
    job_image_id: str

    def get(self, who: str | None, path: str, **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.get(self.base + path, params=params, headers=headers, timeout=60)

    def post(self, who: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(self.base + path, headers={"Authorization": f"Bearer {self.keys[who]}"}, timeout=60, **kwargs)


def create_key(env: dict[str, str], name: str, scopes: str, tenant: str | None = None) -> str:
    args = [SENTINEL, "keys", "create", "--name", name, "--scopes", scopes]
    result = subprocess.run([*args, *(["--tenant", tenant] if tenant else [])], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _serve(env: dict[str, str], tmp: Path) -> Iterator[Tenants]:
    # The first key as an operator makes it, with `sentinel keys create --tenant`; the others as that command makes
    # them, in this process (a CLI start-up per key costs seconds of CPU).
    keys = {"a1": create_key(env, "acme-app", "generate,evaluate,review", "acme")}
    settings = Settings(data_dir=Path(env["SENTINEL_DATA_DIR"]), database_url=env.get("SENTINEL_DATABASE_URL"))
    services = build_services(settings)
    try:
        made = KeyService(services)
        scopes = ["generate", "evaluate", "review"]
        keys["a2"] = made.create("acme-reviewer", scopes, tenant="acme")[1]
        keys["b"] = made.create("globex-app", scopes, tenant="globex")[1]
        keys["admin"] = made.create("ops", ["admin"])[1]
    finally:
        services.engine.dispose()
    server, base = start_server(env, tmp / "api.log", timeout=60)
    try:
        headers = {"Authorization": f"Bearer {keys['a1']}"}
        prompt = "a red ball for acme's secret launch"
        job = httpx.post(
            f"{base}/v1/jobs",
            json={"task": "text-to-image", "prompt": prompt, "params": {"width": 512, "height": 512}},
            headers=headers,
            timeout=60,
        ).json()
        job = httpx.get(f"{base}/v1/jobs/{job['id']}", params={"wait": 30}, headers=headers, timeout=60).json()
        assert job["state"] == "done", job
        image = (FIXTURES / "product-white-background" / "graded" / "fill-82.jpg").read_bytes()
        created = httpx.post(
            f"{base}/v1/evaluations",
            data={"task": "product-white-background"},
            files={"image": ("p.jpg", image)},
            headers=headers,
            timeout=60,
        ).json()
        done = httpx.get(
            f"{base}/v1/evaluations/{created['id']}", params={"wait": 30}, headers=headers, timeout=60
        ).json()
        assert done["verdict"] == "amber", done["summary"]
        yield Tenants(
            base=base,
            data_dir=Path(env["SENTINEL_DATA_DIR"]),
            keys=keys,
            job_id=job["id"],
            prompt=prompt,
            evaluation_id=done["id"],
            image_id=done["image"]["id"],
            image_url=done["image"]["url"],
            job_image_id=job["result"]["images"][0]["image"]["id"],
        )
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["embedded", pytest.param("postgresql", marks=pytest.mark.integration)])
def tenants(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    tmp = tmp_path_factory.mktemp(f"tenancy-{request.param}")
    env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_API_KEY_CACHE_SECONDS="0")
    if request.param == "embedded":
        yield from _serve(env, tmp)
        return
    with own_postgres_database() as url:
        yield from _serve(env | {"SENTINEL_DATABASE_URL": url}, tmp)


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "not_found"


def test_another_tenants_job_evaluation_and_image_are_not_found(tenants: Tenants) -> None:
    t = tenants
    for path in (
        f"/v1/jobs/{t.job_id}",
        f"/v1/evaluations/{t.evaluation_id}",
        f"/v1/images/{t.image_id}",
        f"/v1/images/{t.job_image_id}",
    ):
        assert_not_found(t.get("b", path))
        assert t.get("a1", path).status_code == 200, path
    # The long-poll variants too, and without waiting the whole second: not found is known at once.
    assert_not_found(t.get("b", f"/v1/jobs/{t.job_id}", wait=1))
    assert_not_found(t.get("b", f"/v1/evaluations/{t.evaluation_id}", wait=1))
    # Exactly what an id that never existed answers: the 404 does not tell that the row is there.
    missing = t.get("b", "/v1/jobs/job_" + "0" * 32).json()["error"]
    other = t.get("b", f"/v1/jobs/{t.job_id}").json()["error"]
    assert (other["type"], other["code"]) == (missing["type"], missing["code"])


def test_another_tenants_lists_hold_none_of_its_rows(tenants: Tenants) -> None:
    t = tenants
    mine = t.get("b", "/v1/jobs")
    assert mine.status_code == 200
    assert t.job_id not in {job["id"] for job in mine.json()["data"]}
    assert t.prompt not in mine.text
    queue = t.get("b", "/v1/review")
    assert queue.status_code == 200
    assert t.evaluation_id not in queue.text
    assert t.get("b", "/v1/review/stats").json()["decisions"] == 0


def test_another_tenants_reviewer_cannot_decide_its_item(tenants: Tenants) -> None:
    t = tenants
    decided = t.post("b", f"/v1/review/{t.evaluation_id}/decision", json={"decision": "reject"})
    assert_not_found(decided)
    assert t.get("a1", f"/v1/evaluations/{t.evaluation_id}").json()["review"]["state"] == "waiting"


def test_a_second_key_of_the_tenant_and_an_admin_key_see_its_rows(tenants: Tenants) -> None:
    t = tenants
    for who in ("a2", "admin"):
        assert t.get(who, f"/v1/jobs/{t.job_id}").json()["prompt"] == t.prompt
        assert t.job_id in {job["id"] for job in t.get(who, "/v1/jobs").json()["data"]}
        assert t.get(who, f"/v1/evaluations/{t.evaluation_id}").json()["verdict"] == "amber"
        assert t.get(who, f"/v1/images/{t.image_id}").headers["content-type"] == "image/jpeg"
        assert t.evaluation_id in {item["id"] for item in t.get(who, "/v1/review").json()["data"]}


def test_image_reads_need_a_key_or_a_signed_url(tenants: Tenants) -> None:
    t = tenants
    unsigned = t.get(None, f"/v1/images/{t.image_id}")
    assert unsigned.status_code == 401
    assert "signed" in unsigned.json()["error"]["message"]
    # Unsigned, an image that does not exist answers the same: nothing is told without a key.
    assert t.get(None, "/v1/images/" + "0" * 64).status_code == 401

    # The URL the API handed out works in a browser, which sends no key, and is not for shared caches.
    signed = httpx.get(t.base + t.image_url, timeout=30)
    assert signed.status_code == 200 and signed.headers["content-type"] == "image/jpeg"
    assert "public" not in signed.headers["cache-control"]
    expires, signature = re.search(r"expires=(\d+)&signature=([0-9a-f]+)", t.image_url).groups()  # type: ignore[union-attr]

    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for query in (
        {"expires": expires, "signature": tampered},
        {"expires": str(int(expires) + 300), "signature": signature},  # a later expiry than was signed
        {"expires": expires},
    ):
        refused = t.get(None, f"/v1/images/{t.image_id}", **query)
        assert refused.status_code == 403, query
        assert refused.json()["error"]["code"] == "invalid_signature"
    # A signature is for one image: it opens no other.
    assert t.get(None, f"/v1/images/{t.job_image_id}", expires=expires, signature=signature).status_code == 403

    secret = (t.data_dir / "session-secret").read_text()
    an_hour_ago = UrlSigner(secret, 60, clock=lambda: time.time() - 3600).query(t.image_id)
    expired = httpx.get(f"{t.base}/v1/images/{t.image_id}?{an_hour_ago}", timeout=30)
    assert expired.status_code == 403
    assert "expired" in expired.json()["error"]["message"]


@contextmanager
def login(base: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as browser:
        form = browser.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]*)"', form)
        data = {"key": key, "next": "/review"} | ({"csrf_token": token.group(1)} if token else {})
        assert browser.post("/login", data=data).status_code == 303
        yield browser


def test_review_pages_show_a_reviewer_its_tenants_items_only(tenants: Tenants) -> None:
    t = tenants
    with login(t.base, t.keys["b"]) as outsider:
        assert t.evaluation_id not in outsider.get("/review").text
        assert outsider.get(f"/evaluations/{t.evaluation_id}").status_code == 404
        assert outsider.get(f"/jobs/{t.job_id}").status_code == 404
        assert outsider.get("/dashboard").status_code == 403
        # ... so its pages do not offer a link to it.
        assert 'href="/dashboard"' not in outsider.get("/review").text
    with login(t.base, t.keys["a2"]) as colleague:
        page = colleague.get("/review", params={"id": t.evaluation_id}).text
        assert t.evaluation_id in page
        sources = [src.replace("&amp;", "&") for src in re.findall(r'<img src="([^"]+)"', page)]
        assert sources and all("signature=" in src for src in sources)
        # The page's images load in the browser, which sends the session cookie but no API key.
        assert httpx.get(t.base + sources[-1], timeout=30).status_code == 200


def test_a_bad_tenant_name_is_a_clear_cli_error(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    args = [SENTINEL, "keys", "create", "--name", "x", "--tenant", "acme corp;--"]
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "--tenant 'acme corp;--' is not a tenant name" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_open_server_shows_everything_as_before(client) -> None:
    """No key exists (the embedded quick start): every row is everyone's, and unsigned image URLs still work."""
    image = (FIXTURES / "product-white-background" / "graded" / "fill-82.jpg").read_bytes()
    created = client.post(
        "/v1/evaluations", data={"task": "product-white-background"}, files={"image": ("p.jpg", image)}
    )
    done = client.get(f"/v1/evaluations/{created.json()['id']}?wait=30").json()
    assert client.get(f"/v1/images/{done['image']['id']}").status_code == 200
    assert done["id"] in {item["id"] for item in client.get("/v1/review").json()["data"]}
