"""LLM: the language model writes a new sample for a topic label, shown k real examples of it."""

from __future__ import annotations

from typing import Sequence

__all__ = ["TEMPLATE_ID", "messages"]

TEMPLATE_ID = "llm-topic-v1"
SYSTEM = "You write short encyclopedia-style paragraphs."


def messages(label: str | None, examples: Sequence[str], *, example_chars: int = 300) -> list[dict[str, str]]:
    """A few-shot prompt: numbered examples of the label (each cut to ``example_chars``), then the ask."""
    topic = f"about {label}" if label else "like these"
    shown = "\n".join(f"{i}. {e[:example_chars].strip()}" for i, e in enumerate(examples, start=1))
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Here are examples of texts {topic}:\n\n{shown}\n\n"
            f"Write one new, different text {topic}, in the same style, in two to four sentences. "
            f"Answer with the text only.",
        },
    ]
