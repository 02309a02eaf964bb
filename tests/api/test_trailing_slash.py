"""Outside probe F-small: `POST /v1/images/generations/` (a trailing slash too many) answered a 307 to the path without
it, which the OpenAI SDK follows with a second POST, to a Location built from the Host header (http:// behind a TLS
proxy, where the redirect also drops the Authorization header). The API's paths answer a clear 404 naming the
endpoint meant, as OpenAI's do; the pages keep their redirect."""

from __future__ import annotations


def test_an_api_path_with_a_trailing_slash_is_a_404_naming_the_endpoint(client) -> None:
    response = client.post("/v1/images/generations/", json={"prompt": "a cup"}, follow_redirects=False)
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_url"
    assert "the endpoint is /v1/images/generations" in error["message"]
    # A GET too: one answer per URL, where the redirect served two.
    listing = client.get("/v1/jobs/", follow_redirects=False)
    assert listing.status_code == 404 and "/v1/jobs" in listing.json()["error"]["message"]


def test_an_unknown_path_with_a_trailing_slash_is_still_a_plain_404(client) -> None:
    response = client.post("/v1/nothing-here/", json={}, follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["error"]["code"] != "unknown_url"


def test_a_page_with_a_trailing_slash_still_redirects(client) -> None:
    response = client.get("/dashboard/?window=7d", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/dashboard?window=7d")
