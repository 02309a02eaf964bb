"""How a hosted model's API says that the account behind its key cannot pay: an image provider's, and a vision
judge's endpoint's.

No retry and no wait cures such an answer, whatever its status (OpenAI sends it as a 429, with a rate limit's
status); until someone pays, every request gets the same answer. So it is never retried, and it is named as the
account's billing, where an operator can act, not as a rate limit or the caller's request."""

from __future__ import annotations

import re

#: ``error.code`` (or ``error.type``) words with which a provider says that its account cannot pay: OpenAI's 400
#: billing_hard_limit_reached, and its 429 insufficient_quota ("You exceeded your current quota, please check your
#: plan and billing details").
ACCOUNT_CANNOT_PAY_CODES = frozenset({"billing_hard_limit_reached", "billing_not_active", "insufficient_quota"})
#: Words of an error message that say the same where no code does: Anthropic's 400 invalid_request_error "Your
#: credit balance is too low to access the Anthropic API", Google's 400 "Imagen API is only accessible to billed
#: users at this time" and FAILED_PRECONDITION asking to "enable billing".
ACCOUNT_CANNOT_PAY_WORDS = re.compile(
    r"\bcredit balance is too low\b|\bbilled users\b|\benable billing\b|\bbilling (?:is )?(?:not enabled|disabled)\b",
    re.I,
)


def account_cannot_pay(error: object) -> bool:
    """Whether an API's error object (``{"type", "code", "message"}``) says its account cannot pay."""
    if not isinstance(error, dict):
        return False
    if error.get("code") in ACCOUNT_CANNOT_PAY_CODES or error.get("type") in ACCOUNT_CANNOT_PAY_CODES:
        return True
    message = error.get("message")
    return isinstance(message, str) and ACCOUNT_CANNOT_PAY_WORDS.search(message) is not None
