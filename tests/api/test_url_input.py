"""Evaluations of images given by URL, through a server that may reach 127.0.0.1 (and nothing else private)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import clean_env, png_bytes, start_server

IMAGE = png_bytes(320, 240)


class ImageHost(BaseHTTPRequestHandler):
    #: Every path requested, so a test can tell whether the service fetched anything.
    requested: list[str] = []

    def do_GET(self) -> None:
        self.requested.append(self.path)
        routes = {
            "/photo.bin": (200, {"Content-Type": "application/octet-stream"}, IMAGE),
            "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
            "/to-private": (302, {"Location": "http://10.0.0.1/cat.png"}, b""),
            "/to-photo": (301, {"Location": "/photo.bin"}, b""),
            "/missing": (404, {}, b"no"),
        }
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("url-api")
    env = clean_env(SENTINEL_DATA_DIR=str(data), SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32")
    server, base = start_server(env, data / "serve.log")
    yield base
    server.stop()


def evaluate(api: str, url: str) -> httpx.Response:
    return httpx.post(f"{api}/v1/evaluations", json={"task": "text-to-image", "image_url": url}, timeout=30)


def test_image_by_url_is_fetched_sniffed_and_judged(api, image_host) -> None:
    response = evaluate(api, f"{image_host}/to-photo")
    assert response.status_code == 202, response.text
    body = httpx.get(f"{api}/v1/evaluations/{response.json()['id']}?wait=30", timeout=40).json()
    assert body["status"] == "done"
    image = httpx.get(api + body["image"]["url"])
    # The host said octet-stream; the bytes say PNG, and that is what we serve.
    assert image.headers["content-type"] == "image/png"
    assert image.content == IMAGE


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/to-metadata", 400, "169.254.169.254"),
        ("/to-private", 400, "10.0.0.1"),
        ("/missing", 422, "404"),
    ],
)
def test_redirects_to_private_addresses_and_failures_are_clear(api, image_host, path, status, words) -> None:
    response = evaluate(api, image_host + path)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error["message"]
    assert error["field"] == "image_url"


def test_other_loopback_addresses_stay_blocked(api, image_host) -> None:
    port = image_host.rsplit(":", 1)[1]
    response = evaluate(api, f"http://127.0.0.2:{port}/photo.bin")
    assert response.status_code == 400
    assert "127.0.0.2" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"task": "no-such-task"}, 400, "task"),
        ({"task": "text-to-image", "params": {"width": "wide"}}, 400, "params.width"),
        ({"task": "object-removal"}, 400, "source_url"),
        ({"task": "text-to-image", "mask_url": "MASK"}, 400, "mask_url"),
    ],
)
def test_a_request_wrong_whatever_the_images_hold_fetches_nothing(api, image_host, body, status, field) -> None:
    ImageHost.requested.clear()
    urls = {"image_url": f"{image_host}/photo.bin"} | {k: f"{image_host}/mask.png" for k in body if k == "mask_url"}
    response = httpx.post(f"{api}/v1/evaluations", json=body | urls, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["error"].get("field") == field
    assert ImageHost.requested == []
