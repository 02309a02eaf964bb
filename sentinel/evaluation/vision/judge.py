"""One vision judge's vote: render the prompt, send the images, read the votes, within the judge's time limit.
Transient failures (429, 5xx, connection errors) are retried with backoff while time remains; a reply that is
not usable gets one repair request; anything else makes the judge abstain with the reason, never pass."""

from __future__ import annotations

import io
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jinja2
from PIL import Image

from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, criterion_result
from sentinel.evaluation.vision.options import VisionOptions
from sentinel.evaluation.vision.parse import ReplyProblem, read_votes
from sentinel.evaluation.vision.wire import ImagePart, Reply, wire_for
from sentinel.rubrics.schema import VISION, Rubric

#: Statuses worth another try: the endpoint is busy or broken for a moment (529: Anthropic overloaded).
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: Longest single wait between retries, whatever Retry-After says: the judge's limit is the real bound.
MAX_BACKOFF_SECONDS = 8.0
#: Provider error bodies quoted in a judge's reasoning are cut to this.
MAX_ERROR_CHARS = 300
BUILTIN_PROMPT = "prompts/vision.j2"
#: Anthropic refuses images over 5 MB; larger files are re-encoded (as JPEG) before sending.
MAX_SENT_IMAGE_BYTES = 4_500_000
IMAGE_LABELS = {
    "image": ("the image to judge", "result"),
    "source": ("the source image, before the edit", "source"),
    "mask": ("the mask: white marks the region the edit was allowed to change", "mask"),
}

_client_lock = threading.Lock()
_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One pooled client for every vision judge in the process (judges run on worker threads)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(limits=httpx.Limits(max_connections=32), follow_redirects=False)
        return _client


class JudgeFailed(Exception):
    """The judge cannot vote; the message becomes its abstention reason."""


@dataclass
class Exchange:
    """One request and its answer, for `sentinel judges test` (image bytes left out)."""

    request: dict[str, Any]
    status: int | None = None
    reply: str | dict[str, Any] | None = None
    error: str | None = None


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


def scrub(text: str, secret: str | None) -> str:
    """Never let a key reach a log, an error, a stored row or a page, even if an endpoint echoes it."""
    return text.replace(secret, "[redacted]") if secret else text


class VisionJudge:
    def __init__(self, name: str, options: VisionOptions, template: jinja2.Template, timeout_seconds: float) -> None:
        self.name = name
        self.options = options
        self.template = template
        self.timeout_seconds = timeout_seconds
        self.wire = wire_for(options)

    def api_key(self) -> str | None:
        env = self.options.api_key_env
        return os.environ.get(env) if env else None

    # -- prompt -----------------------------------------------------------------------------------------

    def prompt(self, rubric: Rubric, ctx: JudgeContext) -> tuple[str, list[ImagePart], list[str]]:
        criteria = [c for c in rubric.criteria if c.judge == VISION]
        images = self._images(ctx)
        system = self.template.render(
            task={"id": rubric.id, "title": rubric.title, "description": rubric.description},
            params=ctx.params,
            criteria=[{"id": c.id, "ask": c.ask, "must": c.must, "critical": c.critical} for c in criteria],
            images=[{"label": image.label, "role": role} for image, role in images],
        )
        return system, [image for image, _ in images], [c.id for c in criteria]

    def _images(self, ctx: JudgeContext) -> list[tuple[ImagePart, str]]:
        parts = []
        for name in ("image", "source", "mask"):
            source: ImageSource | None = getattr(ctx, name)
            if source is None:
                continue
            label, role = IMAGE_LABELS[name]
            parts.append((self._image_part(source, label), role))
        return parts

    def _image_part(self, source: ImageSource, label: str) -> ImagePart:
        if self.options.image_url_base:
            return ImagePart(label, source.mime, url=f"{self.options.image_url_base}/v1/images/{source.sha256}")
        rgb = source.decode().rgb
        height, width = rgb.shape[:2]
        limit = self.options.image_max_side
        data = source.load_bytes()
        small_enough = max(height, width) <= limit and len(data) <= MAX_SENT_IMAGE_BYTES
        if small_enough and source.mime in ("image/png", "image/jpeg", "image/webp", "image/gif"):
            return ImagePart(label, source.mime, data=data)
        picture = Image.fromarray(rgb)
        picture.thumbnail((limit, limit), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=90)
        return ImagePart(label, "image/jpeg", data=buffer.getvalue())

    # -- voting -----------------------------------------------------------------------------------------

    def vote(self, rubric: Rubric, ctx: JudgeContext) -> VisionVote:
        """The judge's vote; a failure becomes an abstention that says why."""
        started = time.monotonic()
        # A little under the limit, so the judge abstains in its own words before a worker's hard stop.
        deadline = started + self.timeout_seconds * 0.95
        usage = {"model": self.options.model, "calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0}
        transcript: list[Exchange] = []
        key = self.api_key()
        try:
            if self.options.api_key_env and not key:
                raise JudgeFailed(f"the API key variable {self.options.api_key_env} is not set")
            system, images, asked = self.prompt(rubric, ctx)
            if not asked:
                raise JudgeFailed(f"task '{rubric.id}' has no vision criteria")
            body = self.wire.body(system, images, asked)
            reply = self._call(body, key, deadline, usage, transcript)
            try:
                votes = read_votes(self._content(reply), asked)
            except ReplyProblem as problem:
                # One repair: the model sees its reply and what was wrong with it.
                reply = self._call(self.wire.repair(body, reply, str(problem)), key, deadline, usage, transcript)
                try:
                    votes = read_votes(self._content(reply), asked)
                except ReplyProblem as again:
                    raise JudgeFailed(f"{again} (after one repair request)") from again
        except JudgeFailed as exc:
            return VisionVote(None, f"abstained: {scrub(str(exc), key)}", [], usage, transcript)
        criteria = {c.id: c for c in rubric.criteria}
        results = [
            criterion_result(criteria[v.id], Outcome(v.passed, None, None, scrub(v.reasoning, key))) for v in votes
        ]
        reasoning = "\n".join(f"{'PASS' if r.passed else 'FAIL'} {r.id}: {r.detail}" for r in results)
        return VisionVote(all(r.passed for r in results), reasoning, [r.to_dict() for r in results], usage, transcript)

    @staticmethod
    def _content(reply: Reply) -> str | dict[str, Any]:
        if reply.refusal:
            raise JudgeFailed(f"the model refused: {reply.refusal}")
        return reply.content

    def _call(
        self, body: dict[str, Any], key: str | None, deadline: float, usage: dict[str, Any], transcript: list[Exchange]
    ) -> Reply:
        url = f"{self.options.base_url}{self.wire.path}"
        headers = self.wire.headers(key)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                raise JudgeFailed(f"took longer than its {self.timeout_seconds:g} s limit")
            exchange = Exchange(request=_without_image_data(body))
            transcript.append(exchange)
            retry_after: float | None = None
            try:
                response = http_client().post(url, json=body, headers=headers, timeout=remaining)
            except httpx.TimeoutException:
                exchange.error = "timed out"
                raise JudgeFailed(f"took longer than its {self.timeout_seconds:g} s limit") from None
            except httpx.TransportError as exc:
                exchange.error = f"{type(exc).__name__}: {exc}"
                problem = f"could not reach {self.options.base_url}: {type(exc).__name__}"
            else:
                exchange.status = response.status_code
                usage["calls"] += 1
                if response.status_code == 200:
                    return self._read(response, usage, exchange, key)
                problem = self._http_problem(response, key)
                exchange.error = problem
                if response.status_code not in RETRY_STATUSES:
                    raise JudgeFailed(problem)
                retry_after = _retry_after(response)
            if attempt >= self.options.max_retries:
                raise JudgeFailed(f"{problem} (gave up after {attempt + 1} tries)")
            attempt += 1
            wait = min(retry_after if retry_after is not None else 0.25 * 2**attempt, MAX_BACKOFF_SECONDS)
            if time.monotonic() + wait >= deadline:
                raise JudgeFailed(f"{problem}; no time left to retry within its {self.timeout_seconds:g} s limit")
            time.sleep(wait)

    def _read(self, response: httpx.Response, usage: dict[str, Any], exchange: Exchange, key: str | None) -> Reply:
        try:
            reply = self.wire.read(response.json())
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise JudgeFailed(
                f"the endpoint's answer is not a {self.options.api} reply ({type(exc).__name__})"
            ) from None
        usage["input_tokens"] += reply.input_tokens
        usage["output_tokens"] += reply.output_tokens
        usage["cost"] = round(self.options.cost(usage["input_tokens"], usage["output_tokens"]), 10)
        exchange.reply = reply.content if isinstance(reply.content, dict) else scrub(reply.content, key)
        return reply

    def _http_problem(self, response: httpx.Response, key: str | None) -> str:
        detail = _error_message(response)
        if response.status_code in (401, 403):
            where = f"from {self.options.api_key_env}" if self.options.api_key_env else "(none is configured)"
            return scrub(f"the endpoint refused the API key {where} ({response.status_code}: {detail})", key)
        return scrub(f"the endpoint answered {response.status_code}: {detail}", key)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        text = str(message) if message else response.text
    except ValueError:
        text = response.text
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _without_image_data(body: dict[str, Any]) -> dict[str, Any]:
    """The request as `judges test` prints it: image bytes replaced by their size."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _elide(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    def _elide(key: str, value: Any) -> Any:
        if key in ("url", "data") and isinstance(value, str) and len(value) > 200:
            return f"<{len(value) // 1024} KiB of base64 image data>"
        return strip(value)

    return strip(body)
