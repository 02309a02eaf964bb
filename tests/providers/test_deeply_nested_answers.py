"""A provider answer whose JSON is nested 200000 deep (``{"error": [[[[…]]]]}``) is the provider's unreadable
answer, whatever its status and whichever adapter reads it: the walk goes on to the next candidate and the request
never ends in a crash (probe A9)."""

from __future__ import annotations

import pytest

from tests.providers.scripted_answers import OK_ANSWER, Answers, outcomes, providers, routing, walk

DEPTH = 200_000
DEEP_ERROR = b'{"error":' + b"[" * DEPTH + b"]" * DEPTH + b"}"
DEEP_DETAIL = b'{"detail":' + b"[" * DEPTH + b"]" * DEPTH + b"}"

#: kind → (model, path under the fake, the statuses whose deep answer is read)
ADAPTERS = {
    "openai": ("dall-e-3", "/v1", (500, 429, 400)),
    "google": ("imagen-4.0-generate-001", "", (500, 429, 400)),
    "replicate": ("black-forest-labs/flux-schnell", "", (200, 201, 500, 429, 422)),
    "stability": ("sd3.5-large", "", (500, 429, 400)),
    "fal": ("fal-ai/flux/dev", "", (200, 500, 429, 422)),
}
CASES = [(kind, status) for kind, (_, _, statuses) in ADAPTERS.items() for status in statuses]


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


@pytest.mark.parametrize(("kind", "status"), CASES, ids=[f"{kind}-{status}" for kind, status in CASES])
@pytest.mark.parametrize("body", [DEEP_ERROR, DEEP_DETAIL], ids=["error", "detail"])
def test_a_deeply_nested_answer_is_a_typed_failure_never_a_crash(kind, status, body) -> None:
    model, path, _ = ADAPTERS[kind]
    deep, working = Answers([(status, {"retry-after": "0"}, body)]), Answers([OK_ANSWER])
    with providers(deep=deep, working=working) as urls:
        config = routing(
            {"deep": (kind, urls["deep"] + path, model), "working": ("openai", f"{urls['working']}/v1", "dall-e-3")}
        )
        result = walk(config)
    if status in (400, 422):
        # The provider refused the request: the caller's fault, whatever the body's words; said, not crashed on.
        assert outcomes(result) == [("deep", "invalid_request")]
        assert result.last_failure is not None and f"HTTP {status}" in result.last_failure.message
        return
    # An outage, a rate limit or a 200 that cannot be read: the next candidate serves the request.
    assert result.image is not None, result.attempts
    assert outcomes(result)[-1] == ("working", "ok")
    assert {provider for provider, _ in outcomes(result)} == {"deep", "working"}


def test_an_unreadable_error_answer_says_so() -> None:
    with providers(deep=Answers([(500, {}, DEEP_ERROR)])) as urls:
        result = walk(routing({"deep": ("openai", f"{urls['deep']}/v1", "dall-e-3")}, max_passes=1))
    assert result.last_failure is not None
    assert "HTTP 500: an error answer whose body is not readable" in result.last_failure.message
