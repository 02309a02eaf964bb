"""OpenAI Images API (and any gateway that speaks it): generations, edits and variations, ``url`` or ``b64_json``
output.

Edits (``POST /images/edits``, multipart) take the GPT image models (``image[]``, up to 16 images, every one the
caller sent; ``input_fidelity`` where the model takes it) and DALL·E 2 (one ``image``); variations
(``POST /images/variations``) only DALL·E 2. The mask is sent OpenAI's way, fully transparent where the image is to
change, whichever way the caller drew it (white or transparent). As read in the Images API reference
(platform.openai.com/docs/api-reference/images), 2026-12-05.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import logging
from dataclasses import replace
from typing import Any

import httpx
import msgspec
import orjson
import pybase64

from sentinel.net.billing import ACCOUNT_CANNOT_PAY_CODES
from sentinel.net.transport import READ_WHOLE
from sentinel.providers._http import billed, send
from sentinel.providers.answer_json import json_body, json_object
from sentinel.providers.base import (
    SEVERAL_IMAGES,
    GenerationRequest,
    HttpProvider,
    Operation,
    Outcome,
    ProviderImage,
    ProviderResult,
    canonical_base64,
    classify_http,
    decode_base64,
    error_message,
    failure,
    model_not_found,
    read_not_found,
    retry_after_seconds,
)
from sentinel.providers.config import AuthHeader
from sentinel.providers.masks import as_alpha_mask

logger = logging.getLogger(__name__)

#: Every answer is read whole (an image's base64 in JSON): the transport reads it in one go, not piece by piece.
WHOLE_ANSWER = {READ_WHOLE: True}
#: Error codes OpenAI uses when its safety system refuses a prompt or an output.
CONTENT_POLICY_CODES = frozenset(
    # OpenAI's words, then Azure OpenAI's (its DALL·E deployments answer 400 contentFilter, its chat ones
    # content_filter).
    {"content_policy_violation", "moderation_blocked", "image_generation_user_error", "contentFilter", "content_filter"}
)
#: ``error.code`` or ``error.type`` words of an error a gateway answers inside a 200, by the outcome the same error
#: has at the status OpenAI gives it: a rejected key (401) or an account that cannot pay, a rate limit (429), an outage
#: (500, 503). OpenAI's own words first, then those of the gateways that copy its error shape.
IN_BAND_ERROR_OUTCOMES: dict[str, Outcome] = {
    **dict.fromkeys(
        ("invalid_api_key", "authentication_error", "authentication", "permission_error", "unauthorized"), Outcome.AUTH
    ),
    **dict.fromkeys(ACCOUNT_CANNOT_PAY_CODES, Outcome.AUTH),
    **dict.fromkeys(("rate_limit_exceeded", "rate_limit_error", "quota_exceeded"), Outcome.RATE_LIMITED),
    **dict.fromkeys(
        ("server_error", "engine_overloaded", "overloaded", "overloaded_error", "service_unavailable", "api_error"),
        Outcome.UNAVAILABLE,
    ),
}
#: Where the list of images has been seen under, newest shape last; ``data`` is the documented one.
IMAGE_LIST_KEYS = ("data", "images", "output")
#: Keys an image's base64 has been seen under.
BASE64_KEYS = ("b64_json", "b64", "image_base64", "base64")

#: OpenAI's output fields each model family takes, with the values it takes (None: any value the schema allows), as
#: the Images API reference lists them (platform.openai.com/docs/api-reference/images, read 2026-12-05): ``style``
#: is DALL·E 3's alone; ``background``, ``output_format``, ``output_compression`` and ``moderation`` are the GPT image
#: models'. DALL·E 2 takes none of them.
GPT_IMAGE_OUTPUT: dict[str, frozenset[str | int] | None] = {
    "background": frozenset({"transparent", "opaque", "auto"}),
    "output_format": frozenset({"png", "jpeg", "webp"}),
    "output_compression": None,
    "moderation": frozenset({"low", "auto"}),
}
#: gpt-image-2 refuses transparent backgrounds (same reference).
OPAQUE_GPT_IMAGE_OUTPUT = GPT_IMAGE_OUTPUT | {"background": frozenset({"opaque", "auto"})}
DALL_E_3_OUTPUT: dict[str, frozenset[str | int] | None] = {"style": frozenset({"vivid", "natural"})}
#: ``input_fidelity`` on edits, as the edit reference (the openai SDK 3.63's ImageEditParams, generated from OpenAI's
#: API spec, read 2026-12-05) has it: ``high`` and ``low`` on gpt-image-1.5 (and gpt-image-1 before it was shut
#: down), only ``low`` on gpt-image-1-mini, and "for gpt-image-2, omit this parameter": the reference names no
#: value for the 2.x line after it either, so those are never sent it.
INPUT_FIDELITY: dict[str, frozenset[str | int]] = {
    "gpt-image-1-mini": frozenset({"low"}),
    "gpt-image-1.5": frozenset({"high", "low"}),
    "gpt-image-1": frozenset({"high", "low"}),
}
#: Fields sent as the edit's files, never as text fields.
FILE_FIELDS = frozenset({"image"})


def output_fields_of(model: str) -> dict[str, frozenset[str | int] | None]:
    """The output fields ``model`` takes, and for the GPT image models the edit fields too (up to 16 images,
    ``input_fidelity`` where the model takes it); an unknown model (an OpenAI-compatible gateway's own, unless its
    candidate declares the ``family`` it behaves as) is sent none.

    ``model`` is the name whose rules apply (``GenerationRequest.behaves_as``, ``Candidate.behaves_as``): every rule
    of this adapter reads the start of that name, never the name sent, so a gateway's alias behaves as its family."""
    if model.startswith("gpt-image-2"):
        return OPAQUE_GPT_IMAGE_OUTPUT | {"image": SEVERAL_IMAGES}
    if model.startswith("gpt-image"):
        fidelity = next((values for prefix, values in INPUT_FIDELITY.items() if model.startswith(prefix)), None)
        edit_fields: dict[str, frozenset[str | int] | None] = {"image": SEVERAL_IMAGES}
        if fidelity is not None:
            edit_fields["input_fidelity"] = fidelity
        return GPT_IMAGE_OUTPUT | edit_fields
    if model.startswith("dall-e-3"):
        return DALL_E_3_OUTPUT
    return {}


def answer_shape(body: Any) -> str:
    """The keys of an answer, never its values (megabytes of base64, perhaps a prompt): ``data[].img, created``."""
    if not isinstance(body, dict):
        return type(body).__name__
    keys: list[str] = []
    for key, value in list(body.items())[:20]:
        first = value[0] if isinstance(value, list) and value else None
        if isinstance(first, dict):
            keys.extend(f"{key}[].{inner}" for inner in list(first)[:10])
        else:
            keys.append(f"{key}[]" if isinstance(value, list) else str(key))
    return ", ".join(keys)[:300] or "no keys"


class _DocumentedImage(msgspec.Struct):
    # Raw: ``""`` in the skeleton the answer is parsed as (see documented_images), or the value when it is not a
    # plain string.
    b64_json: msgspec.Raw = msgspec.Raw()
    revised_prompt: str | None = None


class _DocumentedAnswer(msgspec.Struct):
    data: list[_DocumentedImage]


_DOCUMENTED_ANSWER = msgspec.json.Decoder(_DocumentedAnswer)
_BACKSLASH = ord("\\")
_BASE64_KEY = b"b64_json"
#: JSON's whitespace, allowed around the ``:`` between a key and its value.
_JSON_SPACE = b" \t\r\n"


def _strings(content: bytes) -> list[tuple[int, int]]:
    """Where each string of a JSON text starts and ends (the offsets just inside its quotes), found by jumping from
    quote to quote (memchr), so a megabyte of base64 costs one jump rather than a parser's walk over every byte.
    Exact for valid JSON, where a quote outside a string opens one and inside it ends it unless escaped; what it
    makes of invalid JSON does not matter, as the skeleton built from it then fails to parse."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (opening := content.find(b'"', position)) >= 0:
        closing = content.find(b'"', opening + 1)
        while closing >= 0:
            backslashes = 0
            while content[closing - 1 - backslashes] == _BACKSLASH:
                backslashes += 1
            if backslashes % 2 == 0:
                break
            closing = content.find(b'"', closing + 1)
        if closing < 0:
            break
        spans.append((opening + 1, closing))
        position = closing + 1
    return spans


def _base64_values(content: bytes) -> list[tuple[int, int]]:
    """The spans of the string values of every ``b64_json`` key, in the order they come."""
    strings = _strings(content)
    values: list[tuple[int, int]] = []
    for (key_start, key_end), (value_start, value_end) in itertools.pairwise(strings):
        # The key compared in place: slicing it out would copy every string taken for a key, the base64 too.
        if key_end - key_start != len(_BASE64_KEY) or not content.startswith(_BASE64_KEY, key_start):
            continue
        if content[key_end + 1 : value_start - 1].strip(_JSON_SPACE) == b":":
            values.append((value_start, value_end))
    return values


def documented_images(content: bytes) -> list[ProviderImage] | None:
    """The images of an answer in the documented shape, ``{"data": [{"b64_json": "…"}]}``, decoded straight from
    the answer's bytes.

    A JSON parser walks every byte of a string, ~2 ms for the 1.4 MB of base64 of a 1 MiB image. Here the
    base64 strings are found by jumping between quotes, the answer is parsed in full with each of them left out
    (its skeleton: everything else is checked as JSON and read as the documented shape), and each is decoded
    from a view into the answer, strictly (only base64's alphabet: no escape, no line break), so one copy of
    the image exists besides the answer. None for any other shape, any escape or stray byte inside the base64,
    or a ``b64_json`` anywhere but in ``data``'s items: :func:`parse_images` then takes the answer as it comes.
    """
    values = _base64_values(content)
    if not values:
        return None
    view = memoryview(content)
    pieces: list[memoryview] = []
    position = 0
    for start, end in values:
        pieces.append(view[position:start])
        position = end
    pieces.append(view[position:])
    try:
        answer = _DOCUMENTED_ANSWER.decode(b"".join(pieces))
    except msgspec.DecodeError:
        return None
    # Each item's base64 left out of the skeleton, and no other: the spans are the items' values, in order.
    if len(answer.data) != len(values) or any(bytes(item.b64_json) != b'""' for item in answer.data):
        return None
    images: list[ProviderImage] = []
    for item, (start, end) in zip(answer.data, values, strict=True):
        try:
            data = pybase64.b64decode(view[start:end], validate=True)
        except (binascii.Error, ValueError):
            return None
        encoded = view[start:end]
        # Sent on as it came when it is what encoding the bytes gives, saving the answer's encoding of them.
        passed = encoded if canonical_base64(encoded, data) else None
        images.append(ProviderImage(data=data, revised_prompt=item.revised_prompt, base64=passed))
    return images


def parse_images(body: Any) -> tuple[list[ProviderImage], str | None, bool]:
    """Images from a 200 answer, tolerating fields that moved; returns (images, problem, recognised): ``recognised``
    is False when the answer has no image list where any known shape has one, or its entries hold no image under
    any known key (contract drift, not a refusal)."""
    if not isinstance(body, dict):
        return [], "the answer is not a JSON object", False
    items: Any = None
    for key in IMAGE_LIST_KEYS:
        if isinstance(body.get(key), list):
            items = body[key]
            break
    if items is None and isinstance(body.get("result"), dict):
        return parse_images(body["result"])
    if items is None:
        return [], None, False
    if not items:
        return [], None, True
    images: list[ProviderImage] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        revised = item.get("revised_prompt") if isinstance(item.get("revised_prompt"), str) else None
        encoded = next((item[k] for k in BASE64_KEYS if isinstance(item.get(k), str)), None)
        if encoded is not None:
            data = decode_base64(encoded)
            if data is None:
                return [], "the provider returned base64 that does not decode", True
            images.append(ProviderImage(data=data, revised_prompt=revised))
        elif isinstance(item.get("url"), str):
            url = item["url"]
            if url[:5].lower() != "data:":
                images.append(ProviderImage(url=url, revised_prompt=revised))
                continue
            # The image itself as a data URI (some gateways answer every image so): nothing to download.
            data = decode_base64(url)
            if data is None:
                return [], "the provider returned a data URI that is not base64 that decodes", True
            images.append(ProviderImage(data=data, revised_prompt=revised))
    return images, None, bool(images)


def key_headers(api_key: str | None, auth_header: AuthHeader) -> dict[str, str]:
    """The header an OpenAI-style API takes the key in: ``Authorization: Bearer`` (OpenAI), or ``api-key`` (Azure
    OpenAI, which answers 401 to a Bearer key)."""
    if not api_key:
        return {}
    return {"api-key": api_key} if auth_header == "api-key" else {"Authorization": f"Bearer {api_key}"}


class OpenAIProvider(HttpProvider):
    """Adapter for ``POST /images/generations`` and ``POST /images/edits`` under ``base_url`` (…/v1)."""

    default_name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        *,
        timeout: float = 60.0,
        name: str | None = None,
        auth_header: AuthHeader = "authorization",
    ) -> None:
        super().__init__(base_url, api_key, client, timeout=timeout, name=name)
        self.auth_header = auth_header

    def _headers(self) -> dict[str, str]:
        return key_headers(self.api_key, self.auth_header)

    @functools.cached_property
    def _generations_url(self) -> httpx.URL:
        return self._url("/images/generations")

    def _url(self, path: str) -> httpx.URL:
        """``path`` under the base URL, before its query: an Azure OpenAI deployment's base URL ends in
        ``?api-version=…``, which every call keeps (pasted after it, the path would be part of the query's value)."""
        base = httpx.URL(self.base_url)
        return base.copy_with(path=base.path.rstrip("/") + path)

    @classmethod
    def output_fields(cls, model: str) -> dict[str, frozenset[str | int] | None]:
        """``model``: the name whose rules apply, the candidate's family when it declares one (see output_fields_of)."""
        return output_fields_of(model)

    @classmethod
    def supports(cls, model: str, operation: Operation) -> bool:
        """``model``: the name whose rules apply, the candidate's family when it declares one (see output_fields_of)."""
        if operation is Operation.EDIT:
            return model.startswith(("gpt-image", "dall-e-2"))
        if operation is Operation.VARIATION:
            return model.startswith("dall-e-2")
        return True

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "n": 1,
            "size": request.params.get("size", f"{request.width}x{request.height}"),
        }
        if "quality" in request.params:
            body["quality"] = request.params["quality"]
        # Only the fields this model takes: OpenAI refuses the others, and a neutral value ("auto") asked of a model
        # without the field means its default anyway.
        taken = output_fields_of(request.behaves_as)
        body.update(
            {name: value for name, value in request.output.asked().items() if name in taken and name not in FILE_FIELDS}
        )
        # gpt-image models always answer base64 and refuse the parameter; DALL·E models are asked for it.
        if not request.behaves_as.startswith("gpt-image"):
            body["response_format"] = request.params.get("response_format", "b64_json")
        if request.user:
            body["user"] = request.user
        return body

    def _change_form(self, request: GenerationRequest) -> tuple[str, dict[str, str], list[tuple[str, Any]]]:
        """The path, text fields and files of an edit or a variation."""
        body = self._body(request)
        if "size" not in request.params:
            # No size asked for: the provider keeps the source's (gpt-image's "auto"); DALL·E 2 takes only squares.
            body.pop("size")
        source = ("image.png", request.image, _mime_of(request.image or b""))
        if request.operation is Operation.VARIATION:
            body.pop("prompt")
            fields = {k: str(v) for k, v in body.items() if k in VARIATION_FIELDS}
            return "/images/variations", fields, [("image", source)]
        # The GPT image models take a list of images (the SDK sends a list as ``image[]``), all of them sent in the
        # caller's order; DALL·E 2 one ``image`` (the gateway sends it no more: its output_fields take no ``image``).
        if request.behaves_as.startswith("gpt-image"):
            more = [(f"image{i}.png", data, _mime_of(data)) for i, data in enumerate(request.more_images, 2)]
            files: list[tuple[str, Any]] = [("image[]", part) for part in (source, *more)]
        else:
            files = [("image", source)]
        if request.mask is not None:
            files.append(("mask", ("mask.png", as_alpha_mask(request.mask), "image/png")))
        return "/images/edits", {k: str(v) for k, v in body.items()}, files

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        if request.image is not None:  # an edit (or a variation): OpenAI generates from text alone
            path, fields, files = self._change_form(request)
            call = self.client.post(
                self._url(path),
                data=fields,
                files=files,
                headers=self._headers(),
                timeout=self.timeout,
                extensions=billed(WHOLE_ANSWER),
            )
        else:
            # The URL parsed once, the body serialised with orjson: httpx's own URL parsing and json.dumps were a
            # good part of its CPU per call.
            call = self.client.post(
                self._generations_url,
                content=orjson.dumps(self._body(request)),
                headers=self._headers() | {"Content-Type": "application/json"},
                timeout=self.timeout,
                extensions=billed(WHOLE_ANSWER),
            )
        response = await send(call, self.name, billed_on_success=True)
        return response if isinstance(response, ProviderResult) else self._interpret(response)

    def _interpret(self, response: httpx.Response) -> ProviderResult:
        failed = classify_http(response, lambda: error_message(response))
        if failed is not None:
            code, param = _error_code_and_param(response)
            if code in CONTENT_POLICY_CODES:
                return failure(
                    Outcome.CONTENT_FILTERED,
                    f"refused by the provider's safety system ({code}): {error_message(response)}",
                    response.status_code,
                )
            # The provider is away for every request until someone pays: not the caller's request at fault, and
            # not worth a retry (the next candidate is asked).
            if code in ACCOUNT_CANNOT_PAY_CODES or _error_type(response) in ACCOUNT_CANNOT_PAY_CODES:
                return failure(
                    Outcome.AUTH,
                    f"{self.name}'s account cannot pay for images ({code}): {error_message(response)}",
                    response.status_code,
                )
            failed = replace(failed, param=param, code=code)
            if code == "model_not_found":
                # "The model `dall-e-2` does not exist or you do not have access to it": retired or never existed.
                return model_not_found(failed)
            # Kept for the caller: OpenAI names the field it refused, in the field names the caller used too.
            return read_not_found(failed) or failed
        images = documented_images(response.content)
        if images is None:
            try:
                body = json_body(response)
            except ValueError:
                return failure(Outcome.UNAVAILABLE, "the provider answered 200 with a body that is not JSON", 200)
            images, problem, recognised = parse_images(body)
            error = error_in_answer(body) if not images else None
            if error is not None:
                return self._error_in_200(response, error)
            if problem:
                # The same answer on every pass: the provider's fault, not a hiccup worth paying for again.
                return failure(Outcome.UNRECOGNISED_ANSWER, problem, 200)
            if not recognised:
                # The contract changed under us: say so in the log (keys only) rather than blame the prompt.
                shape = answer_shape(body)
                logger.warning("provider %s answered 200 in a shape with no image we recognise: %s", self.name, shape)
                return failure(
                    Outcome.UNRECOGNISED_ANSWER,
                    f"{self.name} answered 200 in a shape with no image Sentinel recognises (keys: {shape})",
                    200,
                )
        if not images:
            # OpenAI refuses a prompt its filter stops with a 400 content_policy_violation, never an empty 200: a
            # gateway or server that answers one has failed, and the caller's prompt is not to blame.
            return failure(
                Outcome.UNRECOGNISED_ANSWER, f"{self.name} answered 200 without any image (an empty `data` list)", 200
            )
        if any(not image.data and not image.url for image in images):
            # ``"b64_json": ""``, ``"url": ""``, an empty data URI: a shape that holds no image, the same on every
            # pass. The provider's fault, not its safety system's refusal (that is a 400 content_policy_violation).
            return failure(
                Outcome.UNRECOGNISED_ANSWER, f"{self.name} answered 200 with an empty image (no bytes, no URL)", 200
            )
        return ProviderResult(Outcome.OK, images, status_code=200)

    def _error_in_200(self, response: httpx.Response, error: dict[str, Any]) -> ProviderResult:
        """A 200 that carries an error instead of an image (some gateways answer every failure so), read as that
        error: the outcome its code or type has at its real status, and its message; an error whose kind is not
        known keeps its message and is drift (the next candidate may serve)."""
        code, kind, param = (_word(error.get(name)) for name in ("code", "type", "param"))
        named = f" ({code or kind})" if code or kind else ""
        said = f"{self.name} answered 200 with an error instead of an image{named}: {error_message(response)}"
        if code in CONTENT_POLICY_CODES or kind in CONTENT_POLICY_CODES:
            return failure(
                Outcome.CONTENT_FILTERED,
                f"refused by the provider's safety system ({code or kind}): {error_message(response)}",
                200,
            )
        failed = ProviderResult(Outcome.UNRECOGNISED_ANSWER, message=said, status_code=200, param=param, code=code)
        if code == "model_not_found":
            # As the same error at its real status (404) is: the model does not exist there, or no longer does.
            return model_not_found(failed)
        outcome = IN_BAND_ERROR_OUTCOMES.get(code or "") or IN_BAND_ERROR_OUTCOMES.get(kind or "")
        outcome = outcome or _outcome_of_status(error.get("code")) or _outcome_of_status(error.get("status"))
        if outcome is None:
            return failed
        retry_after = retry_after_seconds(response) if outcome is Outcome.RATE_LIMITED else None
        return replace(failed, outcome=outcome, retry_after=retry_after)


def error_in_answer(body: Any) -> dict[str, Any] | None:
    """The error a 200 answer carries in OpenAI's shape (``{"error": {...}}``, or a bare message), if any."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error:
        return error
    if isinstance(error, str) and error.strip():
        return {"message": error}
    return None


def _word(value: object) -> str | None:
    """An error field as text (a gateway may give a code as a number), None when absent."""
    if value is None or value == "" or isinstance(value, dict | list):
        return None
    return str(value)[:100]


def _outcome_of_status(value: object) -> Outcome | None:
    """The outcome of an HTTP status a gateway put in its error's ``code`` or ``status`` (OpenRouter, LiteLLM), for
    the statuses whose reading does not depend on who answered: a rejected key, a rate limit, a time-out, an outage.
    A 4xx besides those (a bad request, a 404 that may be the gateway's own path) stays unrecognised."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    if not (len(text) == 3 and text.isdigit()):
        return None
    status = int(text)
    if status in (401, 403):
        return Outcome.AUTH
    if status == 429:
        return Outcome.RATE_LIMITED
    if status in (408, 504):
        return Outcome.TIMEOUT
    if 500 <= status < 600:
        return Outcome.UNAVAILABLE
    return None


#: The fields ``/images/variations`` takes besides the image.
VARIATION_FIELDS = frozenset({"model", "n", "size", "response_format", "user"})


def _mime_of(data: bytes) -> str:
    """The Content-Type of an uploaded image's part, by its bytes (OpenAI takes PNG, JPEG and WebP)."""
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def _detail_param(detail: object) -> str | None:
    """The body field the first entry of a FastAPI/pydantic ``detail`` list names (``loc: ["body", "size"]``)."""
    first = detail[0] if isinstance(detail, list) and detail else None
    loc = first.get("loc") if isinstance(first, dict) else None
    if not isinstance(loc, list) or len(loc) < 2 or loc[0] != "body" or not isinstance(loc[1], str):
        return None
    return loc[1][:100]


def _error_type(response: httpx.Response) -> str | None:
    """OpenAI's ``error.type``, when the answer has one (a gateway may name insufficient_quota only there)."""
    error = (json_object(response) or {}).get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def _error_code_and_param(response: httpx.Response) -> tuple[str | None, str | None]:
    """OpenAI's ``error.code`` and ``error.param``, when the answer has them; for a server in FastAPI's shape (a 422
    whose ``detail`` lists ``{"loc": ["body", "size"], "msg": …}``), the body field it names as the param."""
    body = json_object(response) or {}
    error = body.get("error")
    if not isinstance(error, dict):
        return None, _detail_param(body.get("detail"))
    code, param = error.get("code"), error.get("param")
    return (str(code) if code else None), (str(param)[:100] if param else None)
