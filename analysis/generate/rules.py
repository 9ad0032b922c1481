"""Rule-based augmentation: EDA-style edits and templates with a noise level from 0 to 1.

The edit operations follow EDA (Wei and Zou, "EDA: Easy Data Augmentation Techniques for Boosting
Performance on Text Classification Tasks", EMNLP 2019): synonym replacement, random insertion,
random swap and random deletion, plus replacement by a word from the corpus's own vocabulary and
sentence templates. The noise level is the "controlled noise" of collapse-prevention practice:
0 copies the text, 1 edits about every word. Synonyms come from :mod:`analysis.generate.synonyms`
(shipped, no download).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from analysis.generate.synonyms import SYNONYMS

__all__ = ["OPERATIONS", "TEMPLATES", "augment", "corpus_vocabulary"]

OPERATIONS = ("synonym", "insert", "swap", "delete", "vocabulary")
TEMPLATES = ("In short, {}", "It is known that {}", "Notably, {}", "In general, {}", "{} This is well documented.")
_WORD = re.compile(r"^(\W*)([A-Za-z][A-Za-z'-]*)(\W*)$")


def corpus_vocabulary(texts: Iterable[str], *, min_count: int = 2, max_size: int = 5000) -> list[str]:
    """The corpus's own words (lower case, letters only, seen at least ``min_count`` times), most frequent first."""
    counts = Counter(w for text in texts for w in re.findall(r"[a-z]{3,}", text.lower()))
    return [w for w, c in counts.most_common(max_size) if c >= min_count]


def _match_case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _replace_core(token: str, replacement: str) -> str:
    """Replace a token's word but keep its surrounding punctuation and capitalisation."""
    match = _WORD.match(token)
    if not match:
        return token
    before, word, after = match.groups()
    return before + _match_case(replacement, word) + after


def _core(token: str) -> str | None:
    match = _WORD.match(token)
    return match.group(2).lower() if match else None


def augment(
    text: str,
    *,
    noise: float,
    rng: random.Random,
    vocabulary: Sequence[str] = (),
    operations: Sequence[str] = OPERATIONS,
    template_rate: float | None = None,
) -> tuple[str, list[str]]:
    """Edit ``text`` with ``round(noise * words)`` random operations; return the text and the operations.

    Parameters
    ----------
    noise
        In [0, 1]. 0 returns the text unchanged; each unit of noise edits about one word in one.
    rng
        The random source; the same seed gives the same output.
    vocabulary
        Words of the corpus for the ``vocabulary`` and ``insert`` operations.
    template_rate
        Chance of wrapping the result in a sentence template (default: ``noise / 2``).
    """
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be between 0 and 1, got {noise}")
    unknown = set(operations) - set(OPERATIONS)
    if unknown:
        raise ValueError(f"unknown operations {sorted(unknown)}; choose from {OPERATIONS}")
    tokens = text.split()
    if noise == 0 or not tokens:
        return text, []
    edits = max(1, round(noise * len(tokens)))
    available = [op for op in operations if op != "vocabulary" or vocabulary]
    applied = []
    for _ in range(edits):
        op = rng.choice(available)
        if op == "synonym":
            candidates = [i for i, t in enumerate(tokens) if _core(t) in SYNONYMS]
            if not candidates:
                continue
            i = rng.choice(candidates)
            core = _core(tokens[i])
            assert core is not None  # a candidate's core is in SYNONYMS
            tokens[i] = _replace_core(tokens[i], rng.choice(SYNONYMS[core]))
        elif op == "insert":
            with_synonyms = [core for t in tokens if (core := _core(t)) is not None and core in SYNONYMS]
            pool = [rng.choice(SYNONYMS[w]) for w in with_synonyms] or list(vocabulary)
            if not pool:
                continue
            tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(pool))
        elif op == "swap":
            if len(tokens) < 2:
                continue
            i, j = rng.sample(range(len(tokens)), 2)
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "delete":
            if len(tokens) < 2:
                continue
            del tokens[rng.randrange(len(tokens))]
        elif op == "vocabulary":
            i = rng.randrange(len(tokens))
            tokens[i] = _replace_core(tokens[i], rng.choice(vocabulary))
        applied.append(op)
    result = " ".join(tokens)
    if rng.random() < (noise / 2 if template_rate is None else template_rate):
        template = rng.choice(TEMPLATES)
        body = result[:1].lower() + result[1:] if template.startswith(("In", "It", "Not")) else result
        result = template.format(body)
        applied.append("template")
    return result, applied
