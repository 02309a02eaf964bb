"""One vision judge's vote: render the prompt, send the images, read the votes, within the judge's time limit.
Transient failures (429, 5xx, connection errors) are retried with backoff while time remains; a reply that is
not usable gets one repair request; anything else makes the judge abstain with the reason, never pass.

The HTTP exchange runs on one asyncio loop per process: a call waits there, not on a worker thread, and the
whole exchange (retries, a reply trickled a byte at a time, the repair) ends at the judge's limit."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import io
import logging
import os
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import jinja2
import orjson
from PIL import Image

from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, criterion_result
from sentinel.evaluation.rubric import VISION, Rubric
from sentinel.evaluation.vision import injection
from sentinel.evaluation.vision.options import VisionOptions
from sentinel.evaluation.vision.parse import CriterionVote, ReplyProblem, read_votes
from sentinel.evaluation.vision.shared import SharedWork
from sentinel.evaluation.vision.wire import (
    UNREADABLE_ERROR_BODY,
    ImagePart,
    ImageText,
    NestedTooDeeply,
    NotAReply,
    Reply,
    error_in,
    read_answer,
    refuses_key,
    wire_for,
)
from sentinel.net.billing import account_cannot_pay
from sentinel.net.retry_after import asked_wait
from sentinel.net.untrusted import storable_text
from sentinel.settings import get_settings
from sentinel.store.images import release_to_os
from sentinel.store.mask_region import read_coverage
from sentinel.store.orientation import orientation

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping

    import aiohttp

logger = logging.getLogger(__name__)

#: Statuses worth another try: the endpoint is busy or broken for a moment (529: Anthropic overloaded).
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: Longest single wait between retries, whatever Retry-After says: the judge's limit is the real bound.
MAX_BACKOFF_SECONDS = 8.0
#: Provider error bodies quoted in a judge's reasoning are cut to this.
MAX_ERROR_CHARS = 300
BUILTIN_PROMPT = "prompts/vision.j2"
#: A reply larger than this is refused without reading the rest: votes are a few KB of JSON, and a reply that is
#: not must not fill memory or be sent back in a repair request.
MAX_REPLY_BYTES = 1 << 20
#: Replies up to this long are read on the loop itself (see _read_votes).
INLINE_REPLY_CHARS = 16 * 1024
#: How long past its limit the calling thread waits for the I/O loop before giving up on it (the exchange ends at
#: the limit by itself; this only covers a loop that is stuck).
LOOP_GRACE_SECONDS = 1.0
#: Anthropic refuses an image whose base64 text is over 5 MB (5,242,880 characters), which is about 3.75 MB of
#: image: larger files are re-encoded (as JPEG) before sending, to every endpoint alike.
#: https://docs.anthropic.com/en/docs/build-with-claude/vision
MAX_SENT_BASE64_CHARS = 5 * 1024 * 1024
#: JPEG qualities tried, in order, until a re-encoded image fits; then its sides are halved and the list starts over.
REENCODE_QUALITIES = (90, 80, 70, 60)
#: System prompts a judge keeps rendered (see VisionJudge._prompt).
REMEMBERED_PROMPTS = 64
IMAGE_LABELS = {
    "image": ("the image to judge", "result"),
    "source": ("the source image, before the edit", "source"),
    "mask": ("the mask: white marks the region the edit was allowed to change", "mask"),
}
#: The mask's label for a task whose masks mark what to keep (``mask_marks: keep``, as background-replace's do).
KEEP_MASK_LABEL = "the mask: white marks the subject the edit had to keep unchanged; everything else was to change"

#: The key a mask's plain coverage image (the mask as models are shown it) is published under, with the longest side.
PLAIN_MASK = "plain-mask"

T = TypeVar("T")

_slots: asyncio.Semaphore | None = None

#: Bytes of images as sent (and their base64 text, made on first send) a process keeps, so the judges of one
#: evaluation send one shared copy, prepared once.
SHARED_PARTS_BYTES = 64 * 1024 * 1024
#: Sent images by (hash, label, longest side allowed): the judges' limits may differ, their parts then too.
_parts: SharedWork[tuple[str, str, int], ImagePart] = SharedWork(
    SHARED_PARTS_BYTES, lambda part: 3 * len(part.data or b"")
)


def in_flight_slot() -> asyncio.Semaphore:
    """The process's bound on vision calls in flight (``SENTINEL_VISION_MAX_IN_FLIGHT``); made on the background
    loop, on first use, so it belongs to that loop."""
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(get_settings().vision_max_in_flight)
    return _slots


#: Threads scanning images at once in a process. One: each scanning thread held an OCR engine and a heap of its own
#: (freed buffers are trimmed, but its arena and the engine's stay): a burst of 200 1024² photos put the worker at
#: ~530 MB with two, ~460 MB with one (issue 22: under 500). Each scan's CPU is the same; a long queue of scans
#: drains at one core's pace, on a machine of two cores the other is left to the calls and the votes.
SCAN_THREADS = 1
_scan_threads: concurrent.futures.ThreadPoolExecutor | None = None


def _scanners() -> concurrent.futures.ThreadPoolExecutor:
    """Threads of their own for the OCR scans (SCAN_THREADS): a scan waiting for an engine on the loop's shared
    threads held a thread that recording the answered calls' votes needed."""
    global _scan_threads
    if _scan_threads is None:
        _scan_threads = _TrimmingThreads(SCAN_THREADS, thread_name_prefix="vision-scan")
    return _scan_threads


def scan_before_asking(ctx: JudgeContext, wait_seconds: float) -> bool:
    """The OCR scan of ``ctx``'s image for instructions to its judges, finished on the calling thread (a worker's,
    which holds the panel message) before any of its vision models is asked; False if it did not finish within
    ``wait_seconds`` (the calls then start, and a pass still waits for the scan within its judge's limit).

    Started beside the calls, a long queue of scans outlasted the judges' limits: in a burst of 500 evaluations x 3
    judges, 957 answered (and paid) passes were not counted for want of a scan. Scanned first, the backlog waits
    in the broker's judging queue, where admission, /readyz and the sweep see it, and no model is paid for a vote
    that could not be believed. The result is remembered per image, so each judge's vote then reads it at once."""
    if not get_settings().vision_instruction_scan:
        return True
    scan = injection.scan_soon(ctx, _scanners())
    try:
        scan.result(timeout=wait_seconds)
    except concurrent.futures.TimeoutError:
        logger.warning(
            "the scan of image %s for instructions to its judges did not finish within %g s; its vision judges are "
            "asked meanwhile",
            ctx.image.sha256,
            wait_seconds,
        )
        return False
    except Exception:
        pass  # logged by each vote that reads it (VisionJudge._instructions), which treats it as nothing found
    return True


_prepare_threads: concurrent.futures.ThreadPoolExecutor | None = None
#: Threads reading (and, when a model cannot take them as they are, shrinking) the images sent.
PREPARE_THREADS = 4


def _preparers() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that prepare the images sent (see VisionJudge.prompt_async)."""
    global _prepare_threads
    if _prepare_threads is None:
        from sentinel.worker.loop import started_threads  # see _Session: the broker's package, loaded on need

        _prepare_threads = started_threads(PREPARE_THREADS, "vision-prepare")
    return _prepare_threads


#: Scans in a row after which the scan thread trims the heap even though more are queued: what a run of scans
#: leaves freed between two trims stays bounded however long the queue.
TRIM_EVERY_SCANS = 8


class _TrimmingThreads(concurrent.futures.ThreadPoolExecutor):
    """Threads that trim the C heap (``malloc_trim``) when their queue runs out, and every TRIM_EVERY_SCANS tasks
    in a long queue. An OCR scan allocates and frees tens of MB of buffers of many sizes; glibc kept them in its
    arenas, and a burst of 1024² photos scanned one after another with no trim grew a worker by ~650 MB (200
    images: 1.18 GB in all). Trimming after every scan kept it ~230 MB lower, but in a burst each next scan faulted
    the pages in again (~8 ms of CPU a scan of ~110); between the scans of one queue the next scan reuses them."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers, thread_name_prefix=thread_name_prefix)
        self._counting = threading.Lock()
        self._unfinished = 0
        self._since_trim = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        def then_trim() -> T:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._counting:
                    self._unfinished -= 1
                    self._since_trim += 1
                    trim = self._unfinished == 0 or self._since_trim >= TRIM_EVERY_SCANS
                    if trim:
                        self._since_trim = 0
                if trim:
                    release_to_os()

        with self._counting:
            self._unfinished += 1
        try:
            future = super().submit(then_trim)
        except BaseException:  # shut down: the task never runs
            self._never_run()
            raise
        future.add_done_callback(lambda done: self._never_run() if done.cancelled() else None)
        return future

    def _never_run(self) -> None:
        """A task taken off the queue before it ran (cancelled, or refused) is not waited for."""
        with self._counting:
            self._unfinished -= 1


class _Session:
    """The vision judges' HTTP session of this process: aiohttp's pool and C HTTP parser, made on the loop that uses
    it. httpx's own pool (httpcore, pure Python) walked every connection of its pool on each request and answer;
    with 600 calls at once that walk, and the rest of its Python per call (~4.6 ms), kept the loop so busy that a
    call to a model answering in 1 s took ~4 s."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.session: aiohttp.ClientSession | None = None
        # One TLS context (httpx's, with certifi's CAs, as before): loading the CA bundle costs ~0.1 s.
        self._tls: ssl.SSLContext | None = None

    def get(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self.session is None or self.session.closed or self.loop is not loop:
            if self._tls is None:
                import httpx

                self._tls = httpx.create_ssl_context()
            # No connection limit of its own: SENDING_AT_ONCE and vision_max_in_flight bound the calls.
            connector = aiohttp.TCPConnector(limit=0, ssl=self._tls)
            # Proxy variables are honoured, as httpx's client did; without any (the usual case) aiohttp is not asked
            # to look, since it then reads ~/.netrc on a thread for every request.
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=bool(urllib.request.getproxies())
            )
            if self.loop is None:
                atexit.register(self.close)
            self.loop = loop
        return self.session

    def close(self) -> None:
        """Closed at exit, on its loop if that still runs: aiohttp complains on stderr about a session left open."""
        session, loop = self.session, self.loop
        if session is None or session.closed or loop is None or not loop.is_running():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=LOOP_GRACE_SECONDS)


_session = _Session()


#: Requests being sent at once by a process: those waiting for their turn are not encoded yet, so however many calls
#: are in flight, at most this many requests' bytes wait for a slow endpoint to read them.
SENDING_AT_ONCE = 32
_sending: asyncio.Semaphore | None = None


def sending_slot() -> asyncio.Semaphore:
    """The bound on requests being sent at once (SENDING_AT_ONCE); made on the background loop, on first use."""
    global _sending
    if _sending is None:
        _sending = asyncio.Semaphore(SENDING_AT_ONCE)
    return _sending


def http_session() -> aiohttp.ClientSession:
    """The vision judges' HTTP session of this process, on the running (background) loop."""
    return _session.get()


class JudgeFailed(Exception):
    """The judge cannot vote; the message becomes its abstention reason."""


class ReplyTooLarge(Exception):
    """The endpoint sent more than MAX_REPLY_BYTES; the rest was not read."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read whole (it is at most MAX_REPLY_BYTES)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Exchange:
    """One request and its answer, for `sentinel judges test`."""

    #: The body as sent (its image's text is shared with the call, not copied).
    body: dict[str, Any] = field(repr=False)
    status: int | None = None
    reply: str | dict[str, Any] | None = None
    error: str | None = None
    #: The request went out in full (the endpoint may bill it, answered or not).
    sent: bool = False

    @property
    def request(self) -> dict[str, Any]:
        """The request as `judges test` prints it, image bytes left out: made when read, since a worker's calls
        never read it (walking each body to make it was ~4% of a worker's CPU in a burst of calls)."""
        return _without_image_data(self.body)


@dataclass
class VisionVote:
    passed: bool | None
    reasoning: str
    criteria: list[dict[str, Any]]
    usage: dict[str, Any]
    transcript: list[Exchange] = field(default_factory=list)


def load_template(judges_dir: Path, name: str | None, builtin_dir: Path) -> jinja2.Template:
    """The prompt template: the judge's own file (relative to its folder) or the built-in one."""
    folder, file = (judges_dir, name) if name else (builtin_dir, BUILTIN_PROMPT)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined, autoescape=False
    )
    return environment.get_template(file)


def fits_base64_limit(size: int) -> bool:
    """Whether ``size`` bytes of image stay within MAX_SENT_BASE64_CHARS once base64-encoded (4 per 3, padded)."""
    return 4 * ((size + 2) // 3) <= MAX_SENT_BASE64_CHARS


def jpeg_within_limit(picture: Image.Image) -> bytes:
    """``picture`` as a JPEG that fits MAX_SENT_BASE64_CHARS: the best quality that fits, smaller sides if none does."""
    while True:
        for quality in REENCODE_QUALITIES:
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=quality)
            if fits_base64_limit(buffer.tell()):
                return buffer.getvalue()
        picture = picture.resize((max(1, picture.width // 2), max(1, picture.height // 2)), Image.Resampling.LANCZOS)


async def _read_votes(content: str | dict[str, Any], asked: list[str]) -> list[CriterionVote]:
    """The votes of a reply: read on the loop when it is as short as votes are (a hop to a thread costs more than
    reading a few KB), on a thread when longer, so a long reply does not stall the other judges' calls."""
    if isinstance(content, dict) or len(content) <= INLINE_REPLY_CHARS:
        return read_votes(content, asked)
    return await asyncio.to_thread(read_votes, content, asked)


def _image_as_sent(source: ImageSource, label: str, limit: int) -> ImagePart:
    """The image's own bytes when a model may take them (a type both APIs read, within ``limit`` px and the base64
    limit), its size read from the header alone; else a JPEG of it scaled to ``limit``, from the decoded pixels."""
    data = source.load_bytes()
    if source.mime in ("image/png", "image/jpeg", "image/webp", "image/gif") and fits_base64_limit(len(data)):
        try:
            with Image.open(io.BytesIO(data)) as header:
                width, height = header.size
                # A model may or may not apply an EXIF orientation: a turned photo is sent upright, as decoded.
                turned = orientation(header) != 1
        except (OSError, ValueError):
            width = height = limit + 1  # decoded below, which says what is wrong with it
            turned = False
        if max(width, height) <= limit and not turned:
            return _encoded(ImagePart(label, source.mime, data=data))
    picture = Image.fromarray(source.decode().rgb)
    picture.thumbnail((limit, limit), Image.Resampling.LANCZOS)
    return _encoded(ImagePart(label, "image/jpeg", data=jpeg_within_limit(picture)))


def _encoded(part: ImagePart) -> ImagePart:
    """``part`` with its base64 text made, on the preparing thread: made on first send, it took the event loop
    ~0.7 ms per photo, while the calls of other evaluations waited."""
    _ = part.base64
    return part


def _inputs(ctx: JudgeContext, mask_marks: str = "change") -> list[tuple[ImageSource, str, str]]:
    """The images a judge sends, in order, each with its label and role (a mask's label says what its white marks
    in the task's convention)."""
    inputs = []
    for name in ("image", "source", "mask"):
        source = getattr(ctx, name)
        if source is not None:
            label, role = IMAGE_LABELS[name]
            inputs.append((source, KEEP_MASK_LABEL if name == "mask" and mask_marks == "keep" else label, role))
    return inputs


def _mask_as_sent(source: ImageSource, label: str, limit: int) -> ImagePart:
    """A mask as a plain grey PNG, white where it marks (by the one rule of :mod:`sentinel.store.mask_region`: its
    alpha when it has holes, else its brightness): a model shown an RGBA mask as uploaded sees its colours, not the
    transparency that marks the region."""
    picture = Image.fromarray(read_coverage(source.load_bytes()))
    picture.thumbnail((limit, limit), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", optimize=False)
    return _encoded(ImagePart(label, "image/png", data=buffer.getvalue()))


def _preparer(source: ImageSource, label: str, role: str, limit: int) -> Callable[[], ImagePart]:
    make = _mask_as_sent if role == "mask" else _image_as_sent
    return functools.partial(make, source, label, limit)


#: What each ``api`` speaks, as an error names it.
API_NAMES = {"openai": "OpenAI chat completions", "anthropic": "Anthropic Messages"}


#: A shorter "key" is a placeholder a local server ignores (``ollama``, ``EMPTY``, ``k``), not a secret: redacting
#: it would eat that word from every reasoning and error ("loo[redacted]s fine"). As the image providers' keys are.
MIN_SECRET_CHARS = 8


def scrub(text: str, secret: str | None) -> str:
    """Never let a key reach a log, an error, a stored row or a page, even if an endpoint echoes it."""
    return text.replace(secret, "[redacted]") if secret and len(secret) >= MIN_SECRET_CHARS else text


class VisionJudge:
    def __init__(self, name: str, options: VisionOptions, template: jinja2.Template, timeout_seconds: float) -> None:
        self.name = name
        self.options = options
        self.template = template
        self.timeout_seconds = timeout_seconds
        self.wire = wire_for(options)
        #: System prompts rendered, by (rubric's id, parameters as JSON, images' labels and roles).
        self._prompts: dict[tuple[int, bytes, tuple[tuple[str, str], ...]], tuple[Rubric, str]] = {}

    def api_key(self) -> str | None:
        env = self.options.api_key_env
        return os.environ.get(env) if env else None

    # -- prompt -----------------------------------------------------------------------------------------

    async def prompt_async(self, rubric: Rubric, ctx: JudgeContext) -> tuple[str, list[ImagePart], list[str]]:
        """The system prompt, the images to send and the criteria asked. Each image is read (and shrunk, if a model
        cannot take it as it is) once, on a thread of its own: the other judges of the evaluation, asking meanwhile,
        wait for it holding no thread (a hop to a thread and back for each judge cost more than its prompt)."""
        images = []
        for source, label, role in _inputs(ctx, rubric.mask_marks):
            part = self._prepared_part(source, label, role)
            if part is None:
                part = await asyncio.wrap_future(self._prepare_soon(source, label, role))
            images.append((part, role))
        return self._prompt(rubric, ctx, images)

    def prepare(self, ctx: JudgeContext, mask_marks: str = "change") -> None:
        """Make the images this judge sends ready on the calling thread (a worker's, which has the message), once
        per image for every judge that sends it, so that :meth:`prompt_async` finds them made (``mask_marks``, the
        rubric's, labels the mask as the prompt will). An image that cannot be prepared is left to the judge's own
        call, which tries again and abstains saying why."""
        for source, label, role in _inputs(ctx, mask_marks):
            if self._prepared_part(source, label, role) is None:
                try:
                    self._prepare_now(source, label, role)
                except Exception:
                    logger.debug("image %s could not be prepared ahead of the call", source.sha256, exc_info=True)

    def _prepare_now(self, source: ImageSource, label: str, role: str) -> ImagePart:
        if self._publishes(source, role):
            return self._published_mask(source, label)
        limit = self.options.image_max_side
        return _parts.get((source.sha256, label, limit), _preparer(source, label, role, limit))

    def _prepare_soon(self, source: ImageSource, label: str, role: str) -> concurrent.futures.Future[ImagePart]:
        if self._publishes(source, role):
            return _preparers().submit(self._published_mask, source, label)
        limit = self.options.image_max_side
        return _parts.submit((source.sha256, label, limit), _preparer(source, label, role, limit), _preparers())

    def _prompt(
        self, rubric: Rubric, ctx: JudgeContext, images: list[tuple[ImagePart, str]]
    ) -> tuple[str, list[ImagePart], list[str]]:
        criteria = [c for c in rubric.criteria if c.judge == VISION]
        labels = tuple((image.label, role) for image, role in images)
        try:
            # The prompt depends on the rubric, the parameters and the images' roles alone: the evaluations of a
            # task usually share all three, and rendering took ~0.2 ms of the event loop per call.
            key = (id(rubric), orjson.dumps(ctx.params), labels)
        except TypeError:  # parameters that are not JSON: rendered each time
            key = None
        remembered = self._prompts.get(key) if key is not None else None
        if remembered is not None and remembered[0] is rubric:
            system = remembered[1]
        else:
            system = self.template.render(
                task={"id": rubric.id, "title": rubric.title, "description": rubric.description},
                params=ctx.params,
                criteria=[{"id": c.id, "ask": c.ask, "must": c.must, "critical": c.critical} for c in criteria],
                images=[{"label": label, "role": role} for label, role in labels],
            )
            if key is not None:
                if len(self._prompts) >= REMEMBERED_PROMPTS:
                    self._prompts.clear()
                # The rubric is kept with its prompt: its id is not reused by another rubric while it is.
                self._prompts[key] = (rubric, system)
        return system, [image for image, _ in images], [c.id for c in criteria]

    def _prepared_part(self, source: ImageSource, label: str, role: str) -> ImagePart | None:
        """The image as this judge sends it if it is made already (a URL costs nothing to make); else None."""
        limit = self.options.image_max_side
        if self.options.image_url_base and role != "mask":
            # The signed path: once API keys exist, an unsigned image URL is refused to a caller without a key.
            return self._url_part(label, source.mime, source.path or f"/v1/images/{source.sha256}")
        if self._publishes(source, role):
            path = source.published_already((PLAIN_MASK, limit))
            return None if path is None else self._url_part(label, "image/png", path)
        # Sent inline; so is a mask in URL mode where nothing is served (the CLI): its stored URL would show the
        # model the mask as uploaded, not what it marks.
        return _parts.ready((source.sha256, label, limit))

    def _publishes(self, source: ImageSource, role: str) -> bool:
        """Whether this judge points the model at a URL of the plain mask it makes from ``source``."""
        return bool(self.options.image_url_base) and role == "mask" and source.publish is not None

    def _published_mask(self, source: ImageSource, label: str) -> ImagePart:
        """The mask as the inline mode sends it (plain grey coverage, see :func:`_mask_as_sent`), stored and sent
        as its URL: the uploaded mask's own URL would show the model its colours (an RGBA mask is white all over)."""
        limit = self.options.image_max_side
        plain = _parts.get((source.sha256, label, limit), _preparer(source, label, "mask", limit))
        data = plain.data
        assert data is not None  # made inline by _mask_as_sent
        return self._url_part(label, plain.mime, source.published((PLAIN_MASK, limit), lambda: data))

    def _url_part(self, label: str, mime: str, path: str) -> ImagePart:
        return ImagePart(label, mime, url=f"{self.options.image_url_base}{path}")

    # -- voting -----------------------------------------------------------------------------------------

    def waited(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """``coroutine`` run on the background loop and waited for on this thread, a little past the judge's limit
        at most (a stuck loop must not hold the caller for ever): JudgeFailed when it does not finish by then."""
        from sentinel.worker.loop import background_loop  # see _Session: the broker's package, loaded on need

        future = asyncio.run_coroutine_threadsafe(coroutine, background_loop())
        try:
            return future.result(timeout=self.timeout_seconds + LOOP_GRACE_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise JudgeFailed(self._no_answer()) from None

    def vote(self, rubric: Rubric, ctx: JudgeContext) -> VisionVote:
        """The judge's vote, waited for on the calling thread (the CLI, benchmarks); workers use ``vote_async``."""
        try:
            return self.waited(self.vote_async(rubric, ctx))
        except JudgeFailed as exc:
            return VisionVote(None, f"abstained: {exc}", [], {"model": self.options.model}, [])

    async def vote_async(self, rubric: Rubric, ctx: JudgeContext) -> VisionVote:
        """The judge's vote; a failure becomes an abstention that says why. Waiting for the model holds no thread:
        the exchange runs on the process's background loop, among at most ``vision_max_in_flight`` others."""
        started = time.monotonic()
        # A little under the limit, so the judge abstains in its own words before a worker's hard stop.
        deadline = started + self.timeout_seconds * 0.95
        usage = {"model": self.options.model, "calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0}
        transcript: list[Exchange] = []
        key = self.api_key()
        scan: concurrent.futures.Future[str | None] | None = None
        try:
            if self.options.api_key_env and not key:
                raise JudgeFailed(f"the API key variable {self.options.api_key_env} is not set")
            # Reading the images (and decoding and shrinking one if need be) is done off the loop.
            system, images, asked = await self.prompt_async(rubric, ctx)
            if not asked:
                raise JudgeFailed(f"task '{rubric.id}' has no vision criteria")
            body = self.wire.body(system, images, asked)
            # While the model looks, the OCR reads what the image says to it.
            if get_settings().vision_instruction_scan:
                scan = injection.scan_soon(ctx, _scanners())
            votes = await self._ask(body, asked, key, deadline, usage, transcript)
        except JudgeFailed as exc:
            _, written = await self._instructions(scan, deadline)
            found = [injection.finding(written)] if written else []
            return VisionVote(None, f"abstained: {scrub(str(exc), key)}", found, usage, transcript)
        scanned, written = await self._instructions(scan, deadline)
        criteria = {c.id: c for c in rubric.criteria}
        results = [
            criterion_result(criteria[v.id], Outcome(v.passed, None, None, scrub(v.reasoning, key))) for v in votes
        ]
        reasoning = "\n".join(f"{'PASS' if r.passed else 'FAIL'} {r.id}: {r.detail}" for r in results)
        voted = [r.to_dict() for r in results]
        passed = all(r.passed for r in results)
        if not scanned:
            if passed:
                # Unchecked is not clean: the pass is withheld as a finding withholds it, without claiming a finding
                # (the scan goes on, and the other judges of this image may still get its answer in time).
                reasoning = f"abstained: {self._scan_unfinished()}, so the model's pass is not counted\n{reasoning}"
                return VisionVote(None, reasoning, voted, usage, transcript)
            # A failure is believed, as it is beside a finding.
            reasoning += f"\n({self._scan_unfinished()})"
            return VisionVote(passed, reasoning, voted, usage, transcript)
        if written:
            found = injection.finding(written)
            if passed:
                # The pass may be what the words asked for: it is withheld, and the finding keeps the verdict from
                # green. A failure is believed (no injection asks for one).
                reasoning = f"abstained: {found['detail']}\n{reasoning}"
                return VisionVote(None, reasoning, [*voted, found], usage, transcript)
            reasoning += f"\nFAIL {injection.INJECTION_CRITERION}: {found['detail']}"
            voted.append(found)
        return VisionVote(passed, reasoning, voted, usage, transcript)

    @staticmethod
    async def _instructions(
        scan: concurrent.futures.Future[str | None] | None, deadline: float
    ) -> tuple[bool, str | None]:
        """Whether the scan finished by ``deadline``, and what the image says to its judges by OCR (None when
        nothing, when the OCR could not read it, or when the scan is off). Waiting past the deadline would record
        the vote too late: the model's answer, already paid for, would be lost and the judge asked (and paid)
        again."""
        if scan is None:
            return True, None
        if not scan.done():
            waiting = asyncio.wrap_future(scan)
            # asyncio.wait leaves the scan running when time is up; the future is the caller's own in any case.
            await asyncio.wait([waiting], timeout=max(0.0, deadline - time.monotonic()))
            # Read below from the scan itself; this only keeps asyncio from logging an error no one retrieved.
            waiting.add_done_callback(lambda done: done.cancelled() or done.exception())
            if not scan.done():
                return False, None
        try:
            return True, scan.result()
        except Exception:
            logger.warning("could not read the image's text to look for instructions to judges", exc_info=True)
            return True, None

    def _scan_unfinished(self) -> str:
        return (
            "the check for instructions written in the image did not finish within the judge's "
            f"{self.timeout_seconds:g} s limit"
        )

    def _no_answer(self) -> str:
        return f"no answer within its {self.timeout_seconds:g} s limit"

    async def _ask(
        self,
        body: dict[str, Any],
        asked: list[str],
        key: str | None,
        deadline: float,
        usage: dict[str, Any],
        transcript: list[Exchange],
    ) -> list[CriterionVote]:
        """The votes, from one call and at most one repair, all before ``deadline``."""
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())), in_flight_slot():
                reply = await self._call(body, key, deadline, usage, transcript)
                try:
                    return await _read_votes(self._content(reply), asked)
                except ReplyProblem as problem:
                    # One repair: the model sees (the start of) its reply and what was wrong with it.
                    repair = self.wire.repair(body, reply, str(problem))
                    reply = await self._call(repair, key, deadline, usage, transcript)
                    try:
                        return await _read_votes(self._content(reply), asked)
                    except ReplyProblem as again:
                        raise JudgeFailed(f"{again} (after one repair request)") from again
        except TimeoutError:
            if transcript and transcript[-1].status is None and transcript[-1].error is None:
                transcript[-1].error = "timed out"
                self._count_unanswered(transcript[-1], usage)
            raise JudgeFailed(self._no_answer()) from None

    @staticmethod
    def _content(reply: Reply) -> str | dict[str, Any]:
        if reply.unfinished:
            raise JudgeFailed(reply.unfinished)
        if reply.refusal:
            raise JudgeFailed(f"the model refused: {reply.refusal}")
        if reply.ambiguous:
            # Two answers, or a key given two values: a repair may get one answer; a guess never is one.
            raise ReplyProblem(reply.ambiguous)
        return reply.content

    async def _call(
        self, body: dict[str, Any], key: str | None, deadline: float, usage: dict[str, Any], transcript: list[Exchange]
    ) -> Reply:
        import aiohttp  # see _Session

        url = self.options.endpoint(self.wire.path)
        headers = self.wire.headers(key)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                raise JudgeFailed(self._no_answer())
            exchange = Exchange(body)
            transcript.append(exchange)
            retry_after: float | None = None
            try:
                answer = await _post(url, body, headers, remaining, exchange)
            except ReplyTooLarge as exc:
                # The call was made (and may be billed) but its usage is in the part not read.
                usage["calls"] += 1
                self._count(usage, None, None)
                exchange.error = str(exc)
                raise JudgeFailed(str(exc)) from None
            except TimeoutError:  # aiohttp's own limit (the caller's asyncio.timeout arrives as a cancellation)
                exchange.error = "timed out"
                self._count_unanswered(exchange, usage)
                raise JudgeFailed(self._no_answer()) from None
            except aiohttp.ClientError as exc:
                exchange.error = f"{type(exc).__name__}: {exc}"
                problem = f"could not reach {self.options.base_url}: {type(exc).__name__}"
            else:
                exchange.status = answer.status
                usage["calls"] += 1
                if answer.status == 200:
                    return self._read(answer, usage, exchange, key)
                problem = self._http_problem(answer, key)
                exchange.error = problem
                if answer.status not in RETRY_STATUSES or account_cannot_pay(_error_of(answer)):
                    raise JudgeFailed(problem)
                retry_after = asked_wait(answer.headers)
            if attempt >= self.options.max_retries:
                raise JudgeFailed(f"{problem} (gave up after {attempt + 1} tries)")
            attempt += 1
            # The endpoint's own wait is kept whole: calling earlier is certain to be refused again and counts
            # against its rate window; when it does not fit in the judge's limit the judge abstains at once.
            wait = retry_after if retry_after is not None else min(0.25 * 2**attempt, MAX_BACKOFF_SECONDS)
            if time.monotonic() + wait >= deadline:
                asked = f"; it asked to wait {wait:.3g} s" if retry_after is not None else ""
                raise JudgeFailed(
                    f"{problem}{asked}; no time left to retry within its {self.timeout_seconds:g} s limit"
                )
            await asyncio.sleep(wait)

    def _count_unanswered(self, exchange: Exchange, usage: dict[str, Any]) -> None:
        """A call given up on before its answer came: when the endpoint had the whole request, a hosted model bills
        it whether or not the answer is read, so it is one call at a cost not known (never "0 calls, $0")."""
        if exchange.sent and exchange.status is None:
            usage["calls"] += 1
            self._count(usage, None, None)

    def _count(self, usage: dict[str, Any], input_tokens: int | None, output_tokens: int | None) -> None:
        """Add a reply's tokens; a count the endpoint did not give stays unknown (None) for the whole vote."""
        for name, tokens in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            usage[name] = None if usage[name] is None or tokens is None else usage[name] + tokens
        cost = self.options.cost(usage["input_tokens"], usage["output_tokens"])
        usage["cost"] = None if cost is None else round(cost, 10)

    def _read(self, answer: Answer, usage: dict[str, Any], exchange: Exchange, key: str | None) -> Reply:
        try:
            reply = read_answer(self.wire, answer.body)
        except NotAReply as exc:
            self._count(usage, exc.input_tokens, exc.output_tokens)
            # The endpoint's own words (an error's message) may echo the key.
            said = f"the endpoint's answer is not a usable {API_NAMES[self.options.api]} reply: {exc}"
            raise JudgeFailed(scrub(said, key)) from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
            self._count(usage, None, None)
            raise JudgeFailed(self._unreadable(answer, exc)) from None
        self._count(usage, reply.input_tokens, reply.output_tokens)
        exchange.reply = reply.content if isinstance(reply.content, dict) else scrub(reply.content, key)
        return reply

    def _unreadable(self, answer: Answer, exc: BaseException) -> str:
        """Why a 200 answer is no reply, in words an operator can act on."""
        api = API_NAMES[self.options.api]
        content_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "text/event-stream" or answer.body.lstrip().startswith(b"data:"):
            # A gateway that only streams: Sentinel asks with stream off and reads one JSON answer.
            return (
                f"the endpoint answered a stream ({content_type or 'data: events'}), not one {api} JSON reply: "
                "Sentinel asks with streaming off; point base_url at an endpoint that honours it"
            )
        if isinstance(exc, ValueError) and not isinstance(exc, UnicodeError):
            return f"the endpoint's answer is not JSON ({content_type or 'no content type'}), not an {api} reply"
        return f"the endpoint's answer is not an {api} reply ({type(exc).__name__})"

    def _http_problem(self, answer: Answer, key: str | None) -> str:
        detail = _error_message(answer)
        if answer.status in (401, 403) or (answer.status == 400 and refuses_key(_error_of(answer))):
            where = f"from {self.options.api_key_env}" if self.options.api_key_env else "(none is configured)"
            return scrub(f"the endpoint refused the API key {where} ({answer.status}: {detail})", key)
        if account_cannot_pay(_error_of(answer)):
            return scrub(
                f"the endpoint's account cannot pay for calls: see its billing ({answer.status}: {detail})", key
            )
        return scrub(f"the endpoint answered {answer.status}: {detail}", key)


async def _post(
    url: str, body: dict[str, Any], headers: dict[str, str], remaining: float, exchange: Exchange
) -> Answer:
    """POST and read the answer, refusing one over MAX_REPLY_BYTES (declared or streamed) without reading on.
    ``exchange.sent`` is set once the request went out in full."""
    slot = sending_slot()
    async with asyncio.timeout(remaining):
        await slot.acquire()
    released = False

    def sent() -> None:
        nonlocal released
        if not released:
            released = True
            slot.release()

    try:
        import aiohttp

        # Reversed, to be handed over from the end.
        encoded = encode_body_parts(body)[::-1]
        sized = headers | {"Content-Type": "application/json", "Content-Length": str(sum(map(len, encoded)))}

        async def handed_over() -> AsyncIterator[bytes]:
            # The request's bytes are dropped once the socket took them (aiohttp waits for the transport to drain
            # before asking for more): a call waiting for its answer holds no copy of its image. Given as bytes,
            # the request object kept them until the answer's headers came, and 600 calls in flight held 600 copies.
            # (An image's own text is the prepared part's, shared by every call that sends it: never copied.)
            while encoded:
                yield encoded.pop()
            exchange.sent = True
            sent()

        async with http_session().post(
            url,
            data=handed_over(),
            headers=sized,
            timeout=aiohttp.ClientTimeout(total=remaining),
            allow_redirects=False,
        ) as response:
            exchange.sent = True  # answered: it had the request
            sent()
            return await _read_answer(response)
    finally:
        sent()


async def _read_answer(response: aiohttp.ClientResponse) -> Answer:
    """The answer of ``response``, refused unread past MAX_REPLY_BYTES."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        raise ReplyTooLarge(
            f"the endpoint's reply is {int(declared):,} bytes, over the {MAX_REPLY_BYTES:,}-byte limit; it was not read"
        )
    received = bytearray()
    async for chunk in response.content.iter_any():
        received += chunk
        if len(received) > MAX_REPLY_BYTES:
            raise ReplyTooLarge(
                f"the endpoint's reply is over the {MAX_REPLY_BYTES:,}-byte limit; the rest was not read"
            )
    return Answer(response.status, response.headers, bytes(received))


#: What the encoder writes where an image's text goes, replaced by the text as it is sent: no prompt holds it (NUL
#: characters), and a body that does anyway is encoded whole (see encode_body_parts).
_IMAGE_MARK = "\x00sentinel-image-text\x00"
_IMAGE_MARK_JSON = orjson.dumps(_IMAGE_MARK)


def _image_text_as_str(value: Any) -> str:
    if isinstance(value, ImageText):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def encode_body_parts(body: dict[str, Any]) -> list[bytes]:
    """``body`` as compact JSON (what ``httpx``'s ``json=`` sends), in pieces whose concatenation is the request: the
    JSON around each image's text, by orjson, and the text itself as the part holds it (base64 needs no escaping).
    The image's text is most of a request, and copying it into each call's body by orjson (a fresh ~300 KB buffer
    each time, its pages faulted in) was ~15% of the event loop's time in ``bench vision``, ~0.45 ms per call.
    (Every number a body holds is an option checked to be finite: orjson writes NaN as null, json.dumps refused it.)"""
    texts: list[ImageText] = []

    def mark(value: Any) -> str:
        if isinstance(value, ImageText):
            texts.append(value)
            return _IMAGE_MARK
        raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")

    encoded = orjson.dumps(body, default=mark)
    if not texts:
        return [encoded]
    pieces = encoded.split(_IMAGE_MARK_JSON)
    if len(pieces) != len(texts) + 1:  # the mark is in the prompt itself: nothing is spliced
        return [orjson.dumps(body, default=_image_text_as_str)]
    parts = [pieces[0]]
    for text, after in zip(texts, pieces[1:], strict=True):
        # The opening quote and the prefix (e.g. ``data:image/png;base64,``) close the piece before.
        parts[-1] += orjson.dumps(text.prefix)[:-1]
        parts += [text.base64, b'"' + after]
    return parts


def encode_body(body: dict[str, Any]) -> bytes:
    """``body`` as the compact JSON bytes sent (see encode_body_parts), in one piece."""
    return b"".join(encode_body_parts(body))


def _error_of(answer: Answer) -> Any:
    """The error object of an error answer (OpenAI's, Anthropic's, or Google's list-wrapped one), if it holds one."""
    try:
        return error_in(answer.body)
    except NestedTooDeeply:
        return None


def _error_message(answer: Answer) -> str:
    try:
        error = error_in(answer.body)
    except NestedTooDeeply:
        # Quoting it would show only brackets.
        return UNREADABLE_ERROR_BODY
    message = error.get("message") if isinstance(error, dict) else None
    if message:
        text = str(message)
        status = error.get("status")  # Google's code name (RESOURCE_EXHAUSTED, INVALID_ARGUMENT…)
        if isinstance(status, str) and status and status not in text:
            text = f"{text} ({status})"
    else:
        text = answer.text
    text = " ".join(storable_text(text).split())
    return text[:MAX_ERROR_CHARS] or f"HTTP {answer.status}"


def _without_image_data(body: dict[str, Any]) -> dict[str, Any]:
    """The request as `judges test` prints it: image bytes replaced by their size."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _elide(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    def _elide(key: str, value: Any) -> Any:
        if isinstance(value, ImageText) or (key in ("url", "data") and isinstance(value, str) and len(value) > 200):
            return f"<{len(value) // 1024} KiB of base64 image data>"
        return strip(value)

    return strip(body)
