"""A JSON generation request is typed as OpenAI's API types it: a number sent as text (``"n": "2"``) is refused with
a 400 naming the field, not coerced; the edit and variation forms, whose every field is text, still take ``n=2``."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageDraw

from tests.conftest import png_bytes


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"n": "2"}, "n"),
        ({"n": 2.0}, "n"),
        ({"n": True}, "n"),
        ({"seed": "7"}, "seed"),
        ({"output_compression": "50"}, "output_compression"),
        ({"sentinel": {"max_attempts": "2"}}, "sentinel.max_attempts"),
        ({"sentinel": {"deadline_seconds": "30"}}, "sentinel.deadline_seconds"),
        ({"sentinel": {"budget_seconds": "30"}}, "sentinel.budget_seconds"),
    ],
)
def test_a_json_number_sent_as_another_type_is_refused_naming_the_field(client, body, field) -> None:
    response = client.post("/v1/images/generations", json={"prompt": "a red ball", **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field
    assert error["type"] == "invalid_request_error"
    assert f"'{field}'" in error["message"]


def test_json_numbers_of_the_right_type_are_taken(client) -> None:
    # A whole number for a float field is still a number: 30 seconds is 30.0 seconds.
    body = {"prompt": "a red ball", "n": 2, "seed": 7, "sentinel": {"deadline_seconds": 30, "max_attempts": 2}}
    response = client.post("/v1/images/generations", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2


def white_square_mask(size: int = 256) -> bytes:
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((64, 64, 192, 192), fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_edit_form_takes_n_as_the_text_every_form_field_is(client) -> None:
    response = client.post(
        "/v1/images/edits",
        files={
            "image": ("ball.png", png_bytes(256, 256), "image/png"),
            "mask": ("mask.png", white_square_mask(), "image/png"),
        },
        data={"prompt": "a blue ball", "n": "2", "seed": "7", "response_format": "b64_json"},
    )
    assert response.status_code == 200, response.text
    images = [base64.b64decode(item["b64_json"]) for item in response.json()["data"]]
    assert len(images) == 2 and all(image[:8] == b"\x89PNG\r\n\x1a\n" for image in images)


def test_a_variation_form_takes_n_as_text(client) -> None:
    response = client.post(
        "/v1/images/variations",
        files={"image": ("ball.png", png_bytes(256, 256), "image/png")},
        data={"n": "2", "sentinel[max_attempts]": "2"},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2
