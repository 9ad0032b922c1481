"""LLM: the language model writes a new sample for a topic label, shown k real examples of it.

The examples are given as earlier turns of the conversation (ask, answer, ask, answer, ...), so
the model copies their form and length: with a 135M-parameter model this gives encyclopedia-style
paragraphs that end on their own, where a single prompt listing the examples made it ramble
past its token limit more often than not.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis.generate.paraphrase import shorten

__all__ = ["TEMPLATE_ID", "messages"]

TEMPLATE_ID = "llm-topic-v2"
SYSTEM = "You write short encyclopedia summaries, one paragraph each."


def messages(label: str | None, examples: Sequence[str], *, example_chars: int = 300) -> list[dict[str, str]]:
    """A few-shot chat: each example (cut at a sentence end before ``example_chars``) as an answer."""
    topic = f"a topic in {label}" if label else "a topic"
    turns = [{"role": "system", "content": SYSTEM}]
    for example in examples:
        turns.append({"role": "user", "content": f"Write a short encyclopedia summary about {topic}."})
        turns.append({"role": "assistant", "content": shorten(example.strip(), example_chars)})
    turns.append(
        {"role": "user", "content": f"Write a short encyclopedia summary about another {topic.removeprefix('a ')}."}
    )
    return turns
