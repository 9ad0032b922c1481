"""Paraphrase: the language model rewrites a real sample, keeping its meaning (``parent_id`` set)."""

from __future__ import annotations

import re

__all__ = ["TEMPLATE_ID", "messages", "shorten"]

TEMPLATE_ID = "paraphrase-v1"
SYSTEM = "You rewrite text. Keep the meaning and the facts; change the wording. Answer with the rewritten text only."


def shorten(text: str, max_chars: int) -> str:
    """The text cut at the last sentence end before ``max_chars`` (or at a word, if no sentence fits).

    A 135M-parameter model on two cores rewrites a few sentences well and a page badly; the
    manifest records ``max_input_chars`` so the reader knows what was paraphrased.
    """
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", head)]
    if ends:
        return head[: ends[-1]].strip()
    return head.rsplit(" ", 1)[0].strip()


def messages(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Rewrite this text in your own words:\n\n{text}"},
    ]
