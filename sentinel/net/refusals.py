"""Whether a model's own words read as declining to do what it was asked: an image model's, and a vision judge's.

Image models that chat (Gemini) answer in words when they make no picture: a refusal ("I can't create images of
…") is the provider's content policy at work, where a cheerful "Sure! Here is …" with no image is a failed
generation that another try, or another provider, may well serve. A vision judge's prose around an answer that
declines makes the answer no vote (see ``sentinel.evaluation.vision.parse``)."""

from __future__ import annotations

import re

#: Words that decline (case-insensitive, whole words): a model's reply around them reads as a refusal, whether it
#: is an image model answering in words or a vision judge's prose around an example answer.
DECLINING_WORDS = (
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
)
#: The phrases image models use to cite their rules when they make no picture.
POLICY_WORDS = (
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
REFUSAL_WORDS = DECLINING_WORDS + POLICY_WORDS


def words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``words`` (regular expressions where they hold ``[`` or ``?``, else literal), as whole words."""
    spelled = (w if "[" in w or "?" in w else re.escape(w) for w in words)
    return re.compile(r"(?<![a-z])(?:" + "|".join(spelled) + r")(?![a-z])", re.I)


_REFUSAL = words_pattern(REFUSAL_WORDS)
#: Typographic apostrophes, as chat models often write "can’t".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def refusal_in(text: str) -> str | None:
    """The first refusal word or phrase in ``text`` as written there; None when it reads as no refusal."""
    found = _REFUSAL.search(text.translate(_APOSTROPHES))
    return found.group(0) if found else None
