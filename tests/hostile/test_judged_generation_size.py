"""A judged SDK generation (`extra_body={"sentinel": {"task": ...}}`) with a `size` that is not WIDTHxHEIGHT is
refused naming `size`, as the plain request is, not `params.width` (a field the caller never sent)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("size", ["12x", "0x0", "axb", "1024x1024x5", " 256x256", "256X256"])
def test_a_malformed_size_on_a_judged_generation_names_size(client: TestClient, size: str) -> None:
    body = {"prompt": "a red mug", "size": size}
    plain = client.post("/v1/images/generations", json=body)
    judged = client.post(
        "/v1/images/generations", json=body | {"sentinel": {"task": "text-to-image", "max_attempts": 1}}
    )
    assert plain.status_code == judged.status_code == 400, (plain.text, judged.text)
    assert plain.json()["error"]["param"] == judged.json()["error"]["param"] == "size", (plain.text, judged.text)
    assert size in judged.json()["error"]["message"]
