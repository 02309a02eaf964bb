"""Provider base64 is decoded strictly, on the fast path for the usual shape and the careful one otherwise."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from sentinel.providers.base import GenerationRequest, Outcome, ProviderResult, decode_base64
from sentinel.providers.openai import OpenAIProvider, documented_images
from tests.conftest import png_bytes


def test_standard_urlsafe_and_wrapped_base64_all_decode_to_the_same_bytes() -> None:
    data = png_bytes(50, 50) + bytes(range(256))  # the last bytes encode to '+' and '/' (or '-' and '_')
    standard = base64.b64encode(data).decode()
    assert decode_base64(standard) == data
    assert decode_base64(base64.urlsafe_b64encode(data).decode()) == data
    wrapped = "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76))
    assert decode_base64(wrapped) == data


def test_base64_that_does_not_decode_is_none_not_an_exception() -> None:
    # ("abc", unpadded base64 of two bytes, decodes: protobuf JSON leaves padding out.)
    for bad in ("abc$", "abcde", "ab=c", "not base64 at all!", "YWJj" + "\x00"):
        assert decode_base64(bad) is None, bad


def openai_answer(content: bytes) -> ProviderResult:
    """What the OpenAI adapter makes of a 200 answer with this exact body."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    async def call() -> ProviderResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            adapter = OpenAIProvider("http://openai.test/v1", "sk", client)
            return await adapter.generate(GenerationRequest(prompt="a cat", model="dall-e-3"))

    return asyncio.run(call())


def test_documented_answers_decode_straight_from_the_bytes_and_other_shapes_still_decode() -> None:
    first, second = png_bytes(40, 40), png_bytes(30, 30) + bytes(range(256))
    encoded = [base64.b64encode(first).decode(), base64.b64encode(second).decode()]
    items = [{"b64_json": encoded[0], "revised_prompt": "a cat, detailed"}, {"b64_json": encoded[1]}]
    documented = json.dumps({"created": 1, "data": items}).encode()
    images = documented_images(documented)
    assert images is not None
    assert [(i.data, i.revised_prompt) for i in images] == [(first, "a cat, detailed"), (second, None)]
    # Valid JSON the fast path does not take: an escaped slash inside the base64, wrapped lines, another key,
    # a null beside a URL. Each still gives the provider's image through the tolerant parser.
    escaped = json.dumps({"data": [{"b64_json": encoded[1]}]}).replace("/", "\\/").encode()
    assert b"\\/" in escaped
    wrapped = json.dumps({"data": [{"b64_json": "\n".join(encoded[1][i : i + 76] for i in range(0, 400, 76))}]})
    other_key = json.dumps({"images": [{"b64": encoded[1]}]}).encode()
    for content in (escaped, other_key):
        assert documented_images(content) is None
        result = openai_answer(content)
        assert result.outcome is Outcome.OK and result.images[0].data == second
    assert documented_images(wrapped.encode()) is None
    with_url = json.dumps({"data": [{"b64_json": None, "url": "https://cdn.test/i.png"}]}).encode()
    assert documented_images(with_url) is None
    assert openai_answer(with_url).images[0].url == "https://cdn.test/i.png"
    assert openai_answer(documented).images[0].data == first


def test_bad_base64_in_the_documented_shape_is_a_failed_answer() -> None:
    result = openai_answer(b'{"data": [{"b64_json": "not base64!"}]}')
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER
    assert "base64" in result.message
    assert openai_answer(b'{"data": [{"b64_json": "abc').outcome is Outcome.UNAVAILABLE


def test_the_fast_path_reads_the_documented_shape_whatever_else_the_answer_holds() -> None:
    image = png_bytes(40, 40) + bytes(range(256))
    encoded = base64.b64encode(image).decode()
    # A revised prompt quoting the key, with escaped quotes and backslashes; spaces around the colon; keys in any
    # order; unicode escapes in other strings.
    tricky = 'she wrote \\"b64_json\\": \\"AAAA\\", then \\u00e9 and a backslash at the end \\\\'
    content = (
        '{ "created" : 1 , "data" : [ { "revised_prompt" : "' + tricky + '" , "b64_json" :\n "' + encoded + '" } ] ,'
        ' "usage": {"note": "\\"b64_json\\""} }'
    ).encode()
    assert json.loads(content)["data"][0]["b64_json"] == encoded  # valid JSON, as a provider would send
    images = documented_images(content)
    assert images is not None and len(images) == 1
    assert images[0].data == image
    assert images[0].revised_prompt == json.loads(content)["data"][0]["revised_prompt"]


def test_answers_the_fast_path_cannot_vouch_for_go_to_the_careful_parser_or_fail() -> None:
    image = png_bytes(30, 30)
    encoded = base64.b64encode(image).decode()
    # A b64_json outside the items: the fast path does not guess which is the image; the careful parser takes data.
    elsewhere = json.dumps({"data": [{"b64_json": encoded}], "extra": {"b64_json": "QUFB"}}).encode()
    assert documented_images(elsewhere) is None
    assert openai_answer(elsewhere).images[0].data == image
    # The same key twice in one item: JSON keeps the last; so does the careful parser.
    twice = ('{"data": [{"b64_json": "QUFB", "b64_json": "' + encoded + '"}]}').encode()
    assert documented_images(twice) is None
    assert openai_answer(twice).images[0].data == image
    # Broken JSON after the base64 is not an answer, however good the base64.
    broken = ('{"data": [{"b64_json": "' + encoded + '"}], "created": }').encode()
    assert documented_images(broken) is None
    assert openai_answer(broken).outcome is Outcome.UNAVAILABLE
    # A stray byte inside the base64 (a quote left unescaped would end the string; a NUL is no base64).
    assert (
        documented_images(('{"data": [{"b64_json": "' + encoded[:8] + "\\u0000" + encoded[8:] + '"}]}').encode())
        is None
    )
