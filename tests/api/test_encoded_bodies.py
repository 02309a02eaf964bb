"""A compressed request body (a client with request compression on) is refused naming Content-Encoding, where it was
"Invalid JSON: expected value at line 1 column 1", telling the caller its JSON was broken."""

from __future__ import annotations

import gzip
import json

import pytest

BODY = json.dumps({"task": "text-to-image", "prompt": "a lighthouse"}).encode()


# Named by coding: gzip stamps the time into its bytes, and pytest-xdist's workers, each collecting in its own second,
# would otherwise name the case differently (the run stops: "Different tests were collected between gw0 and gw1").
@pytest.mark.parametrize(
    ("coding", "data"), [("gzip", gzip.compress(BODY, mtime=0)), ("br", b"\x1b\x00")], ids=["gzip", "br"]
)
def test_a_compressed_body_is_a_415_naming_content_encoding(client, coding: str, data: bytes) -> None:
    answer = client.post(
        "/v1/jobs", content=data, headers={"Content-Type": "application/json", "Content-Encoding": coding}
    )
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert error["param"] == "Content-Encoding" and coding in error["message"]


def test_identity_is_an_ordinary_body(client) -> None:
    answer = client.post(
        "/v1/jobs", content=BODY, headers={"Content-Type": "application/json", "Content-Encoding": "identity"}
    )
    assert answer.status_code == 202, answer.text
