"""Provider base64 is decoded strictly, on the fast path for the usual shape and the careful one otherwise."""

from __future__ import annotations

import base64

from sentinel.providers.base import decode_base64
from tests.conftest import png_bytes


def test_standard_urlsafe_and_wrapped_base64_all_decode_to_the_same_bytes() -> None:
    data = png_bytes(50, 50) + bytes(range(256))  # the last bytes encode to '+' and '/' (or '-' and '_')
    standard = base64.b64encode(data).decode()
    assert decode_base64(standard) == data
    assert decode_base64(base64.urlsafe_b64encode(data).decode()) == data
    wrapped = "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76))
    assert decode_base64(wrapped) == data


def test_base64_that_does_not_decode_is_none_not_an_exception() -> None:
    for bad in ("abc$", "abc", "ab=c", "not base64 at all!", "YWJj" + "\x00"):
        assert decode_base64(bad) is None, bad
