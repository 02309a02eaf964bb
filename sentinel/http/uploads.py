"""Reading multipart/form-data bodies the same way everywhere: a truncated upload is refused, every file is capped
at the image limit while it is read, fields come out as the OpenAI SDK writes them (``image[]`` for a list,
``sentinel[task]`` for a nested field) and a form field is parsed into a model with parse_body's error wording."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Message, Receive

from sentinel.errors import BadImage, ImageTooLarge, InvalidInput, format_size, over_the_limit
from sentinel.http.errors import validation_code
from sentinel.http.requests import reject_nul
from sentinel.net.fetch import FetchedBody, fetch_url
from sentinel.settings import Settings

ModelT = TypeVar("ModelT", bound=BaseModel)

#: ``sentinel[params][color]`` → ("sentinel", "[params][color]"); ``image[]`` → ("image", "[]").
BRACKETED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\[\]]*\])+)$")
#: Largest text field read (the form parser's per-part cap for non-file parts): prompts are at most 32,000 chars.
MAX_TEXT_PART_BYTES = 128 * 1024


class ClosingDelimiter:
    """Watches a multipart body go by for its closing delimiter. A body cut short (a truncated upload) has none,
    and the form parser would quietly keep whichever parts it got whole."""

    def __init__(self, receive: Receive, boundary: bytes) -> None:
        self._receive = receive
        self.delimiter = b"\r\n--" + boundary + b"--"
        # A body may open with its closing delimiter (no parts), without the line break before it.
        self._tail = b"\r\n"
        self.seen = False

    async def receive(self) -> Message:
        message = await self._receive()
        if not self.seen and message["type"] == "http.request":
            body = message.get("body", b"")
            keep = len(self.delimiter) - 1
            # The chunk itself, and the few bytes where it meets the last one: no copy of the whole chunk.
            self.seen = self.delimiter in body or self.delimiter in self._tail + body[:keep]
            self._tail = body[-keep:] if len(body) >= keep else (self._tail + body)[-keep:]
        return message


class _PartTooLarge(MultiPartException):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class _PartNamingParser(MultiPartParser):
    """Starlette's multipart parser, whose refusal of a text part past the size limit names the part's field (the
    caller is told which field to shorten, as for any other field it must change), and which keeps file parts in
    memory however large.

    Starlette spools a file part past 1 MiB to a temporary file, and from then on writes each chunk of the body, and
    reads the part back, through a worker thread: a 2 MB PNG cost about 15 thread hops and 4 ms of CPU to parse,
    more than the rest of its evaluation's accept. Every caller reads each file whole into memory straight after
    (:func:`read_upload`), and the body's size is capped before it is read (``BodySizeLimit``), so keeping the part
    in memory holds nothing that would not be held anyway. (0: a spool that never rolls over to disk.)"""

    spool_max_size = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        try:
            super().on_part_data(data, start, end)
        except MultiPartException as exc:
            raise _PartTooLarge(exc.message, self._current_part.field_name) from exc


async def parse_form(request: Request, *, max_files: int, max_fields: int, max_part_size: int) -> FormData:
    """The body as form data, read with Starlette's limits; a multipart body the parser refuses is a 400 that names
    the text field past ``max_part_size`` when that is what it refused. The caller closes the form."""
    content_type, _ = parse_options_header(request.headers.get("content-type"))
    try:
        if content_type != b"multipart/form-data":
            return await request.form(max_files=max_files, max_fields=max_fields, max_part_size=max_part_size)
        async with contextlib.aclosing(request.stream()) as stream:
            parser = _PartNamingParser(
                request.headers, stream, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
            )
            return await parser.parse()
    except _PartTooLarge as exc:
        raise InvalidInput(
            f"form field '{exc.field}' is larger than the {format_size(max_part_size)} a text field may hold",
            field=exc.field,
        ) from exc
    except MultiPartException as exc:  # a bad boundary, a part without a name, too many files...
        raise InvalidInput(f"malformed multipart/form-data body: {exc.message}") from exc
    except StarletteHTTPException as exc:  # the same, from a urlencoded body
        raise InvalidInput(f"malformed form body: {exc.detail}") from exc


async def parse_whole_form(request: Request, *, max_files: int, max_fields: int, max_part_size: int) -> FormData:
    """:func:`parse_form`, refusing a multipart body that ends before its closing delimiter (a truncated upload,
    whose whole parts the parser would keep quietly). The caller closes the form."""
    boundary = parse_options_header(request.headers.get("content-type"))[1].get(b"boundary")
    if not boundary:
        return await parse_form(request, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size)
    watcher = ClosingDelimiter(request.receive, boundary)
    form = await parse_form(
        Request(request.scope, watcher.receive),
        max_files=max_files,
        max_fields=max_fields,
        max_part_size=max_part_size,
    )
    if not watcher.seen:
        await form.close()
        closing = watcher.delimiter.strip().decode("latin-1")
        raise InvalidInput(f"the multipart body ended before its closing boundary '{closing}': truncated upload")
    return form


#: What a URL's Content-Type is quoted as in an error, at most: the server chose it.
_SHOWN_TYPE_CHARS = 100
#: How much of a caller's URL an error quotes.
_SHOWN_URL_CHARS = 200


def _not_an_image(field: str, url: str, fetched: FetchedBody) -> BadImage:
    """The refusal of a URL that answered with something other than an image (a login page, an error document),
    naming the field, the URL and what it served: the caller fixes the URL, not an image."""
    shown_url = url if len(url) <= _SHOWN_URL_CHARS else url[: _SHOWN_URL_CHARS - 1] + "…"
    media = (fetched.content_type or "").split(";")[0].strip().lower()
    media = "".join(c for c in media if c.isprintable())[:_SHOWN_TYPE_CHARS]
    if media == "text/html" or fetched.content.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        what = f"{media or 'an HTML document'} (a web page, perhaps a login or error page)"
    elif media:
        what = media
    else:
        what = "no Content-Type" if fetched.content else "an empty body"
    return BadImage(
        f"{field} {shown_url} served {what}, not a PNG, JPEG, WebP or GIF image; give the address of the image itself",
        field=field,
    )


async def fetch_images(
    urls: dict[str, str], settings: Settings, is_image: Callable[[bytes], object] | None = None
) -> dict[str, bytes]:
    """Images given by URL (``name → url``), fetched at once: public addresses only (unless allowed), capped at the
    image size limit; a refusal names the ``<name>_url`` field. ``is_image`` (the store's sniffer, which this layer
    cannot import) refuses here, under that field and naming the URL, a body that is no accepted image: checked
    later, it would be refused under ``<name>`` as if the caller had sent those bytes."""

    async def fetch(name: str, url: str) -> bytes:
        field = f"{name}_url"
        fetched = await fetch_url(
            url,
            max_bytes=settings.max_image_bytes,
            timeout=settings.fetch_timeout_seconds,
            max_redirects=settings.fetch_max_redirects,
            allowed_networks=settings.fetch_allowed_networks,
            field=field,
        )
        if is_image is not None and not is_image(fetched.content):
            raise _not_an_image(field, url, fetched)
        return fetched.content

    contents = await asyncio.gather(*(fetch(name, url) for name, url in urls.items()))
    return dict(zip(urls, contents, strict=True))


async def read_upload(value: Any, name: str, max_bytes: int) -> bytes | None:
    """An uploaded file's bytes, refused (413) past ``max_bytes`` without reading more than one byte beyond it. The
    file's spool is released once read: the part is held in memory (see :class:`_PartNamingParser`), and would be
    held twice until the form is closed."""
    if value is None:
        return None
    if not isinstance(value, UploadFile):
        raise InvalidInput(f"'{name}' must be a file upload", field=name)
    if value.size is not None and value.size > max_bytes:
        raise ImageTooLarge(f"{name} is {over_the_limit(value.size, max_bytes)}", field=name)
    data = await value.read(max_bytes + 1)
    await value.close()
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{name} is larger than the {format_size(max_bytes)} limit", field=name)
    return data


@dataclass
class Form:
    """A multipart body read whole: text fields (nested where the names are bracketed) and files by field name."""

    fields: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[bytes]] = field(default_factory=dict)


def _nest(target: dict[str, Any], name: str, value: str) -> None:
    """``sentinel[params][color]=red`` into ``{"sentinel": {"params": {"color": "red"}}}``; ``a[]`` appends."""
    match = BRACKETED.match(name)
    if match is None:
        target[name] = value
        return
    parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
    node: Any = target
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        following_is_list = not last and parts[index + 1] == ""
        if part == "":
            if not isinstance(node, list):
                raise InvalidInput(f"form field '{name}' mixes a list and a field", field=parts[0])
            if last:
                node.append(value)
                return
            raise InvalidInput(f"form field '{name}': a list of lists is not accepted", field=parts[0])
        if not isinstance(node, dict):
            raise InvalidInput(f"form field '{name}' mixes a list and a field", field=parts[0])
        if last:
            node[part] = value
            return
        node = node.setdefault(part, [] if following_is_list else {})


async def read_form(
    request: Request,
    *,
    files: Collection[str],
    fields: Collection[str],
    repeatable: Collection[str] = (),
    max_files: int,
    max_bytes: int,
) -> Form:
    """The body's fields and files: ``files`` are file parts (``name`` or ``name[]``, the same field), ``fields``
    text (a bracketed name counts as its first part), each once unless in ``repeatable``. Anything else, a file
    where text belongs or text where a file belongs, a truncated body, or a file past ``max_bytes`` is refused."""
    form = await parse_whole_form(request, max_files=max_files, max_fields=64, max_part_size=MAX_TEXT_PART_BYTES)
    try:
        read = Form()
        seen: dict[str, int] = {}
        for name, value in form.multi_items():
            match = BRACKETED.match(name)
            base = match.group(1) if match else name
            if base in files:
                seen[base] = seen.get(base, 0) + 1
                if seen[base] > 1 and base not in repeatable:
                    raise InvalidInput(f"form field '{base}' was sent more than once; send it once", field=base)
                if not isinstance(value, UploadFile):
                    raise InvalidInput(f"'{base}' must be a file upload", field=base)
                data = await read_upload(value, base, max_bytes)
                read.files.setdefault(base, []).append(data or b"")
                continue
            if base not in fields:
                raise InvalidInput(f"Unknown parameter: '{base}'.", field=base)
            if isinstance(value, UploadFile):
                raise InvalidInput(f"form field '{base}' must be text, not a file", field=base)
            if match is None and name in read.fields:
                raise InvalidInput(f"form field '{name}' was sent more than once; send it once", field=name)
            _nest(read.fields, name, value)
        return read
    finally:
        await form.close()


#: pydantic's error types for a value that should have been an object.
_NOT_AN_OBJECT = frozenset({"model_type", "model_attributes_type", "dict_type"})


def parse_fields(model: type[ModelT], fields: dict[str, Any]) -> ModelT:
    """Form fields (all text) as ``model``, or a 400 naming the first wrong field in parse_body's words. A field the
    model reads as an object comes as bracketed fields (``sentinel[task]=…``, as the OpenAI SDK writes it) or as one
    text field holding a JSON object (as a curl user writes it)."""
    try:
        parsed = model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or None
        sent = fields.get(name) if name else None
        if first["type"] in _NOT_AN_OBJECT and isinstance(sent, str):
            try:
                decoded = orjson.loads(sent)
            except orjson.JSONDecodeError:
                decoded = None
            if isinstance(decoded, dict):
                return parse_fields(model, fields | {name: decoded})
            raise InvalidInput(
                f"Invalid '{name}': expected an object: send it as JSON object text ({name}='{{\"key\": …}}') or "
                f"as bracketed fields ({name}[key]=…)",
                field=name,
            ) from exc
        if first["type"] == "extra_forbidden":
            error = InvalidInput(f"Unknown parameter: '{name}'.", field=name)
        else:
            error = InvalidInput(f"Invalid '{name or 'body'}': {first['msg']}", field=name)
        error.code = validation_code(first["type"]) if name else None
        raise error from exc
    reject_nul(parsed.model_dump(), "")
    return parsed
