"""Jobs on the embedded default: in-process broker and workers, SQLite, the offline `local` provider."""

from __future__ import annotations


def test_job_on_the_local_provider_is_judged_and_chosen(client) -> None:
    created = client.post(
        "/v1/jobs",
        json={"task": "text-to-image", "prompt": "a red ball", "params": {"width": 512, "height": 512}, "n": 2},
    )
    assert created.status_code == 202, created.text
    job = client.get(f"/v1/jobs/{created.json()['id']}?wait=30").json()
    assert job["state"] == "done", job
    assert {a["slot"] for a in job["attempts"]} == {0, 1}
    for image in job["result"]["images"]:
        assert image["verdict"] in ("green", "amber", "red")
        served = client.get(image["image"]["url"])
        assert served.headers["content-type"] == "image/png"
    assert all(a["provider"] == "local" for a in job["attempts"])
