"""Whether a model's own words read as declining to do what it was asked.

Image models that chat (Gemini) answer in words when they make no picture: a refusal ("I can't create images of
…") is the provider's content policy at work, where a cheerful "Sure! Here is …" with no image is a failed
generation that another try, or another provider, may well serve."""

from __future__ import annotations

import re

#: Words and phrases that make a reply a refusal (case-insensitive, whole words). The same stems the vision judges'
#: reply reader treats as a refusal, and the phrases image models use to cite their rules.
REFUSAL_WORDS = (
    "sorry",
    "apologi[sz]e",
    "can't",
    "cannot",
    "can not",
    "unable",
    "won't",
    "will not",
    "not able",
    "refuse",
    "decline",
    "not allowed",
    "not permitted",
    "prohibited",
    "inappropriate",
    "violates?",
    "violation",
    "against my",
    "guidelines",
    "content policy",
    "usage policy",
    "policies",
)
_REFUSAL = re.compile(
    r"(?<![a-z])(?:" + "|".join(w if "[" in w or "?" in w else re.escape(w) for w in REFUSAL_WORDS) + r")(?![a-z])",
    re.I,
)
#: Typographic apostrophes, as chat models often write "can’t".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def refusal_in(text: str) -> str | None:
    """The first refusal word or phrase in ``text`` as written there; None when it reads as no refusal."""
    found = _REFUSAL.search(text.translate(_APOSTROPHES))
    return found.group(0) if found else None
