"""Cleaning of model outputs: strip what is not the sample, reject what cannot be one.

Small instruction models wrap their answer: "Sure, here is a rewritten version:", quotes,
"1." numbering, the prompt repeated back. :func:`clean_output` removes those and returns the
sample, or a rejection reason that the run counts (``empty``, ``truncated``, ``too long``,
``too short``, ``copy of the input``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Cleaned", "clean_output", "REJECTION_REASONS"]

REJECTION_REASONS = ("empty", "truncated", "too short", "too long", "copy of the input", "duplicate")

_PREAMBLE = re.compile(
    r"""^\s*(?:
        (?:sure|certainly|of\ course|okay|ok|absolutely|here\ you\ go)\s*[,!.:]\s*
        (?:[^\n:]*?\b(?:version|text|rewrite|paraphrase|sentence|paragraph)\b[^\n:]*?(?::\s*|\n))?
      | (?:here(?:'s|\ is|\ are)|below\ is)\b[^\n:]*?(?::\s*|\n)
      | (?:(?:the\ )?(?:rewritten|paraphrased|new|revised)\ (?:text|version|sentence|paragraph)s?\b[^\n:]*?:\s*)
      | (?:(?:paraphrase|rewrite|rewritten\ text|text|answer|output|response)\s*:\s*)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_QUOTES = [('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("«", "»"), ("`", "`")]
_TRAILER = re.compile(
    r"(?:(?<=[.!?])\s+|\n\s*)(?:i hope|let me know|note:|this (?:rewritten|paraphrased|new) (?:text|version)"
    r"|the (?:original )?(?:text|sentence|paragraph) (?:has been|was) (?:reworded|rewritten|paraphrased))[^\n]*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Cleaned:
    """A cleaned output: ``text`` when accepted, else ``rejected`` names the reason."""

    text: str
    rejected: str | None = None


def _strip_quotes(text: str) -> str:
    for left, right in _QUOTES:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right) and text.count(left) <= 2:
            return text[len(left) : -len(right)].strip()
    return text


def clean_output(
    raw: str,
    *,
    prompt_text: str | None = None,
    finish_reason: str | None = "stop",
    min_words: int = 4,
    max_chars: int = 2000,
) -> Cleaned:
    """Strip chat preambles, prompt echoes, numbering and quotes; reject unusable outputs.

    Parameters
    ----------
    raw
        The model's answer.
    prompt_text
        The text the model was asked to rewrite; an output equal to it is rejected, and a
        leading echo of it (answer = input + new text) is cut.
    finish_reason
        ``"length"`` means the model hit its token limit: the output is truncated and rejected.
    min_words, max_chars
        Outputs shorter or longer than this are rejected.
    """
    if finish_reason == "length":
        return Cleaned(raw.strip(), "truncated")
    text = raw.strip()
    for _ in range(3):  # a preamble can hide behind another ("Sure! Here is the text:")
        stripped = _PREAMBLE.sub("", text, count=1).strip()
        if stripped == text:
            break
        text = stripped
    text = _TRAILER.sub("", text).strip()
    text = _NUMBERING.sub("", text).strip()
    text = _strip_quotes(text)
    text = re.sub(r"\s+", " ", text).strip()
    if prompt_text:
        source = re.sub(r"\s+", " ", prompt_text).strip()
        if text.lower() == source.lower():
            return Cleaned(text, "copy of the input")
        if text.startswith(source) and len(text) > len(source):
            text = text[len(source) :].strip()
    if not text:
        return Cleaned("", "empty")
    if len(text) > max_chars:
        return Cleaned(text, "too long")
    if len(text.split()) < min_words:
        return Cleaned(text, "too short")
    return Cleaned(text)
