"""Model health: an interpolated Kneser-Ney n-gram language model and its perplexity on real text.

Train the model on a set (real train data, a synthetic set, a mixture) and measure its perplexity
on the real holdout: a model trained on collapsed data has lost the tails, so real text surprises
it more and its perplexity climbs.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from analysis.metrics.diversity import tokenize
from analysis.metrics.ngrams import BOS, EOS, UNK

__all__ = ["KneserNeyLM", "perplexity", "BOS", "EOS", "UNK", "ARRAY_FROM"]


class KneserNeyLM:
    """Interpolated Kneser-Ney n-gram model (Kneser and Ney 1995; Chen and Goodman 1999).

    ``p(w | c) = max(N(c w) - d, 0) / N(c·) + d · T(c·) / N(c·) · p(w | c')`` where, at the highest
    order, ``N`` are raw counts and, at lower orders, continuation counts ``N1+(· c w)``
    (the number of distinct words seen before ``c w``); ``T(c·)`` is the number of distinct words
    seen after ``c``; ``c'`` is ``c`` without its first word. A context never seen passes its mass
    to the shorter context. The recursion ends in the continuation unigram
    ``N1+(· w) / N1+(· ·)`` which, with ``uniform_floor`` (the default), is itself interpolated
    with a uniform distribution over the vocabulary plus ``<unk>``, so unseen words have a
    non-zero probability and held-out perplexity stays finite. With ``uniform_floor=False`` the
    model equals ``nltk.lm.KneserNeyInterpolated`` on the same padded training text.

    Sentences are padded with ``order - 1`` ``<s>`` and ``</s>`` symbols, as NLTK's
    ``padded_everygram_pipeline`` does.
    """

    def __init__(self, order: int = 3, *, discount: float = 0.75, uniform_floor: bool = True) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.order, self.discount, self.uniform_floor = order, discount, uniform_floor
        self.counts: dict[tuple[str, ...], Counter] = defaultdict(Counter)  # context -> next-word counts
        self.vocabulary: set[str] = set()

    # ------------------------------------------------------------------ training
    def fit(self, sentences: Iterable[Sequence[str]]) -> KneserNeyLM:
        """Count every n-gram (orders 1..n) of the padded token sequences."""
        pad = self.order - 1
        for tokens in sentences:
            padded = [BOS] * pad + list(tokens) + [EOS] * pad
            self.vocabulary.update(padded)
            for i in range(len(padded)):
                for n in range(1, self.order + 1):
                    if i + n <= len(padded):
                        gram = tuple(padded[i : i + n])
                        self.counts[gram[:-1]][gram[-1]] += 1
        self._continuation()
        return self

    def fit_texts(self, texts: Iterable[str]) -> KneserNeyLM:
        return self.fit(tokenize(t) for t in texts)

    def _continuation(self) -> None:
        """``N1+(· c w)`` and ``N1+(· c ·)`` for every context c shorter than order - 1."""
        self._cont: dict[tuple[str, ...], Counter] = defaultdict(Counter)
        self._cont_total: Counter = Counter()
        # N(c·) of every context, summed once (an integer sum: the same value as summing per score call)
        self._total = {context: sum(followers.values()) for context, followers in self.counts.items()}
        for context, followers in self.counts.items():
            if len(context) == 0:
                continue
            shorter = context[1:]
            for word in followers:
                self._cont[shorter][word] += 1
            self._cont_total[shorter] += len(followers)

    # ------------------------------------------------------------------ scoring
    def _unigram(self, word: str) -> float:
        total = self._cont_total[()]
        if not self.uniform_floor:
            return self._cont[()][word] / total
        alpha = max(self._cont[()][word] - self.discount, 0.0) / total
        gamma = self.discount * len(self._cont[()]) / total
        return alpha + gamma / (len(self.vocabulary) + 1)

    def _score(self, word: str, context: tuple[str, ...]) -> float:
        if not context:
            return self._unigram(word)
        followers = self.counts.get(context)
        if not followers:
            return self._score(word, context[1:])
        if len(context) + 1 == self.order:
            count, total = followers[word], self._total[context]
        else:
            count, total = self._cont[context][word], self._cont_total[context]
        alpha = max(count - self.discount, 0.0) / total
        gamma = self.discount * len(followers) / total
        return alpha + gamma * self._score(word, context[1:])

    def score(self, word: str, context: Sequence[str] = ()) -> float:
        """``p(word | context)``, using the last ``order - 1`` words of the context; unseen words are ``<unk>``."""
        if not self.counts:
            raise ValueError("the model is not trained: call fit() first")
        context = (
            tuple(w if w in self.vocabulary else UNK for w in context)[-(self.order - 1) :] if self.order > 1 else ()
        )
        return self._score(word if word in self.vocabulary else UNK, context)

    def perplexity_tokens(self, sentences: Iterable[Sequence[str]]) -> float:
        """``exp(-mean log p)`` over every word and one ``</s>`` per sentence, left-padded with ``<s>``."""
        log_sum, count = 0.0, 0
        pad = [BOS] * (self.order - 1)
        for tokens in sentences:
            sequence = pad + list(tokens) + [EOS]
            for i in range(len(pad), len(sequence)):
                p = self.score(sequence[i], sequence[max(0, i - self.order + 1) : i])
                log_sum += math.log(p) if p > 0 else -math.inf
                count += 1
        if count == 0:
            raise ValueError("no tokens to score")
        return math.exp(-log_sum / count)


#: From this many training texts on, :func:`perplexity` fits the vectorised
#: :class:`analysis.metrics.array_lm.ArrayKneserNey`: the same model (tested equal to 1e-9), about 50 times
#: faster than this module's dictionaries, which the smaller sets (the demo's included) keep.
ARRAY_FROM = 5_000


def perplexity(
    train_texts: Sequence[str], test_texts: Sequence[str], *, order: int = 3, discount: float = 0.75
) -> float:
    """Perplexity on ``test_texts`` of a Kneser-Ney model of ``order`` trained on ``train_texts``.

    ``PP = exp(-(1/N) sum_i ln p(w_i | w_{i-n+1..i-1}))`` over the N words and end symbols of the
    test texts. Range [1, ∞); lower is better. Reference: Chen and Goodman, "An Empirical Study of
    Smoothing Techniques for Language Modeling", 1999.
    """
    if len(train_texts) >= ARRAY_FROM and order >= 2:
        from analysis.metrics.array_lm import ArrayKneserNey, Vocabulary

        vocabulary = Vocabulary()
        train, test = vocabulary.encode(train_texts), vocabulary.encode(test_texts)
        bits = max(8, len(vocabulary.words).bit_length())
        return ArrayKneserNey(order, bits, discount=discount).fit(train).perplexity(test)
    model = KneserNeyLM(order, discount=discount).fit_texts(train_texts)
    return model.perplexity_tokens(tokenize(t) for t in test_texts)
