"""Model health at speed: the interpolated Kneser-Ney model of :mod:`analysis.metrics.lm` on numpy arrays.

:class:`ArrayKneserNey` is :class:`analysis.metrics.lm.KneserNeyLM` (the same probabilities and
perplexity, tested to 1e-9) with counting, scoring and sampling vectorised over packed integer
n-gram keys, so one model fits, samples a thousand texts and scores a holdout in a fraction of a
second. :class:`Vocabulary` turns texts into a :class:`TokenCorpus` of word ids and back. The
collapse simulator (:mod:`analysis.simulate.ngram`) fits, samples and scores one per generation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.metrics.diversity import tokenize
from analysis.metrics.ngrams import BOS, EOS, UNK

__all__ = ["ArrayKneserNey", "TokenCorpus", "Vocabulary", "BOS_ID", "EOS_ID", "UNK_ID"]

#: Word ids of ``<s>``, ``</s>`` and ``<unk>`` in every :class:`Vocabulary`.
BOS_ID, EOS_ID, UNK_ID = 0, 1, 2


class TokenCorpus:
    """Texts as word ids: one flat int64 array and the offsets of each text (``offsets[-1] == len(ids)``)."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self.ids, self.offsets = np.asarray(ids, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
        self._counts: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._counts_order = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, rows: np.ndarray) -> TokenCorpus:
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        position = np.repeat(self.offsets[rows] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return TokenCorpus(self.ids[position], offsets)

    @staticmethod
    def concat(parts: Sequence[TokenCorpus]) -> TokenCorpus:
        ids = np.concatenate([p.ids for p in parts])
        lengths = np.concatenate([p.lengths for p in parts])
        corpus = TokenCorpus(ids, np.concatenate([[0], np.cumsum(lengths)]))
        orders = {p._counts_order for p in parts}
        counted = [p._counts for p in parts if p._counts is not None]
        if len(orders) == 1 and len(counted) == len(parts):  # merge counts instead of recounting
            corpus._counts = [_merge_counts([counts[level] for counts in counted]) for level in range(len(counted[0]))]
            corpus._counts_order = parts[0]._counts_order
        return corpus

    def ngram_counts(self, order: int, bits: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Raw counts of every n-gram, n = 1 … order, of the texts padded with ``order - 1`` ``<s>`` and
        ``</s>`` (as :class:`analysis.metrics.lm.KneserNeyLM` pads): per n, sorted packed keys and counts."""
        if self._counts is not None and self._counts_order == order:
            return self._counts
        pad = order - 1
        lengths = self.lengths + 2 * pad
        starts = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.full(int(starts[-1]), EOS_ID, dtype=np.int64)
        if pad:
            flat[(starts[:-1, None] + np.arange(pad)).ravel()] = BOS_ID
        flat[np.repeat(starts[:-1] + pad - self.offsets[:-1], self.lengths) + np.arange(len(self.ids))] = self.ids
        end = np.repeat(starts[1:], lengths)
        position = np.arange(len(flat))
        counts = []
        for size in range(1, order + 1):
            valid = position[position + size <= end]
            keys = np.zeros(len(valid), dtype=np.int64)
            for j in range(size):
                keys = (keys << bits) | flat[valid + j]
            unique, count = np.unique(keys, return_counts=True)
            counts.append((unique, count.astype(np.int64)))
        self._counts, self._counts_order = counts, order
        return counts


def _merge_counts(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Counts of several corpora as one: the union of their sorted keys, the counts of equal keys summed."""
    keys = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    order = np.argsort(keys, kind="stable")  # sorted runs: a merge
    keys, counts = keys[order], counts[order]
    first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[first], np.add.reduceat(counts, first)


class Vocabulary:
    """Word <-> id, with ``<s>`` = 0, ``</s>`` = 1, ``<unk>`` = 2 (:data:`BOS_ID`, :data:`EOS_ID`, :data:`UNK_ID`)."""

    def __init__(self) -> None:
        self.words: list[str] = [BOS, EOS, UNK]
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}

    def encode(self, texts: Sequence[str]) -> TokenCorpus:
        ids: list[int] = []
        lengths: list[int] = []
        for text in texts:
            tokens = tokenize(text)
            for token in tokens:
                if token not in self.index:
                    self.index[token] = len(self.words)
                    self.words.append(token)
            ids.extend(self.index[t] for t in tokens)
            lengths.append(len(tokens))
        return TokenCorpus(np.array(ids, dtype=np.int64), np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))

    def decode(self, corpus: TokenCorpus, rows: Sequence[int] | np.ndarray | None = None) -> list[str]:
        words = np.array(self.words, dtype=object)
        rows = range(len(corpus)) if rows is None else rows
        return [" ".join(words[corpus.ids[corpus.offsets[r] : corpus.offsets[r + 1]]]) for r in rows]


class _Level:
    """One order of an interpolated Kneser-Ney model as sorted arrays.

    ``contexts`` (sorted packed keys of the contexts with followers), per context ``gamma`` (the
    back-off weight) and ``stay`` (the share of its mass at this order), and per (context, word)
    entry ``keys`` (sorted) and ``alpha`` (the discounted probability). ``sample_words`` and
    ``sample_cum`` (context index + cumulative share) give the per-context sampling distribution;
    ``samplable`` marks the contexts with a word that may be drawn (not only ``<s>``/``<unk>``).
    """

    contexts: np.ndarray
    gamma: np.ndarray
    stay: np.ndarray
    keys: np.ndarray
    alpha: np.ndarray
    sample_words: np.ndarray
    sample_cum: np.ndarray
    samplable: np.ndarray


class ArrayKneserNey:
    """:class:`analysis.metrics.lm.KneserNeyLM` on numpy arrays, with fast sampling.

    The same model (interpolated Kneser-Ney, Chen and Goodman 1999, with the uniform floor and the
    same ``<s>``/``</s>`` padding): ``perplexity`` equals ``KneserNeyLM.perplexity_tokens`` on the
    same texts (tested to 1e-9), but counting, scoring and sampling are vectorised over packed
    integer n-gram keys, so a generation of the simulator fits, samples 1,000 texts and scores the
    holdout in a fraction of a second instead of tens of seconds.

    Sampling (``sample``) uses the model's mixture form: ``p(w|c) = alpha(w|c) + gamma(c) p(w|c')``
    with ``sum_w alpha(w|c) = 1 - gamma(c)``, so a word is drawn by staying at the longest seen
    context with probability ``sum alpha / (sum alpha + gamma)`` and drawing in proportion to its
    discounted count there, else backing off; the last level is the discounted continuation
    unigram, else uniform over the vocabulary. At ``temperature=1`` without truncation this is
    exact sampling from the model (``<s>`` and ``<unk>`` are never emitted; their tiny unigram mass
    is renormalised away). ``temperature``, ``top_k`` and ``top_p`` act on the distribution of each
    order's discounted counts (temperature: weights ``(c - d)^(1/T)``; then the ``top_k`` largest;
    then the smallest prefix whose share reaches ``top_p``); with truncation the uniform floor is
    not sampled. This keeps sampling O(order · log) per token; truncating the full interpolated
    distribution would cost O(vocabulary) per token.

    ``fit(vocabulary=...)`` fixes the vocabulary of the uniform floor (the simulator passes every
    word of the real data, so that held-out perplexities of generations with different
    vocabularies are comparable: a model that lost a word pays for it instead of scoring it as a
    cheap ``<unk>``). Without it the model is exactly ``KneserNeyLM``.

    A bad ``order``, ``bits`` or ``discount`` raises ``ValueError``, as ``KneserNeyLM`` does.
    """

    def __init__(self, order: int, bits: int, *, discount: float = 0.75) -> None:
        if order < 2:
            raise ValueError(f"the n-gram order must be >= 2, got {order}")
        if order * bits > 63:
            raise ValueError(
                f"order {order} with a vocabulary of 2^{bits} words does not fit 64-bit keys: use order <= {63 // bits}"
            )
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.order, self.bits, self.discount = order, bits, discount

    def fit(
        self,
        corpus: TokenCorpus,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float = 1.0,
        vocabulary: np.ndarray | None = None,
    ) -> ArrayKneserNey:
        """Count the corpus and build every order's scoring and sampling arrays.

        ``vocabulary`` (sorted ids, ``<s>`` and ``</s>`` included) fixes the vocabulary of the
        uniform floor; default, as in ``KneserNeyLM``, every token of the padded training texts.
        """
        d, bits = self.discount, self.bits
        raw = corpus.ngram_counts(self.order, bits)
        mask = (1 << bits) - 1
        # sorted ids of the vocabulary: every token of the padded texts (<s>, </s> included), or the given one
        self.vocabulary = raw[0][0] if vocabulary is None else np.asarray(vocabulary, dtype=np.int64)
        self.truncated = top_k is not None or top_p < 1.0
        self.levels: dict[int, _Level] = {}
        for size in range(1, self.order + 1):
            level = _Level()
            if size == self.order:
                keys, weight = raw[size - 1]
            else:  # continuation counts N1+(. g): distinct (size+1)-grams ending in g
                suffix = raw[size][0] & ((1 << (bits * size)) - 1)
                keys, weight = np.unique(suffix, return_counts=True)
            context = keys >> bits
            first = np.flatnonzero(np.concatenate([[True], context[1:] != context[:-1]]))
            group = np.repeat(np.arange(len(first)), np.diff(np.concatenate([first, [len(keys)]])))
            total = np.add.reduceat(weight, first).astype(np.float64)
            distinct = np.diff(np.concatenate([first, [len(keys)]])).astype(np.float64)
            level.contexts = context[first]
            if size == self.order or size == 1:
                followers = distinct
            else:  # KneserNeyLM: gamma uses the number of distinct raw followers of the context
                raw_context = raw[size - 1][0] >> bits
                raw_first = np.flatnonzero(np.concatenate([[True], raw_context[1:] != raw_context[:-1]]))
                raw_distinct = np.diff(np.concatenate([raw_first, [len(raw_context)]]))
                followers = raw_distinct[np.searchsorted(raw_context[raw_first], level.contexts)].astype(np.float64)
            level.gamma = d * followers / total
            level.keys = keys
            level.alpha = np.maximum(weight - d, 0.0) / total[group]
            mass = np.add.reduceat(level.alpha, first)
            level.stay = mass / (mass + level.gamma)
            words = keys & mask
            usable = ~np.isin(words, (BOS_ID, UNK_ID))
            self._sampling(
                level, words[usable], group[usable], np.maximum(weight - d, 0.0)[usable], temperature, top_k, top_p
            )
            self.levels[size] = level
        unigram = self.levels[1]
        self.uniform = unigram.gamma[0] / (len(self.vocabulary) + 1)
        if self.truncated:
            unigram.stay = np.ones(1)
        self.uniform_words = self.vocabulary[~np.isin(self.vocabulary, (BOS_ID, UNK_ID))]
        return self

    @staticmethod
    def _sampling(level: _Level, words, group, weight, temperature, top_k, top_p) -> None:
        weight = weight ** (1.0 / temperature) if temperature != 1.0 else weight.astype(np.float64)
        if top_k is not None or top_p < 1.0:
            order = np.lexsort((words, -weight, group))
            words, group, weight = words[order], group[order], weight[order]
            first = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
            start = np.repeat(first, np.diff(np.concatenate([first, [len(group)]])))
            keep = np.ones(len(words), dtype=bool)
            if top_k is not None:
                keep &= np.arange(len(words)) - start < top_k
            if top_p < 1.0:
                cum = np.cumsum(weight)
                before = cum - weight - (cum[start] - weight[start])
                totals = np.add.reduceat(weight, first)[np.searchsorted(first, start)]
                keep &= before / totals < top_p
            words, group, weight = words[keep], group[keep], weight[keep]
        cum = np.cumsum(weight)
        first = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
        lengths = np.diff(np.concatenate([first, [len(group)]]))
        base = np.repeat(np.concatenate([[0.0], cum[first[1:] - 1]]), lengths)
        ends = np.repeat(cum[np.concatenate([first[1:] - 1, [len(cum) - 1]])], lengths)
        share = (cum - base) / (ends - base)
        share[np.concatenate([first[1:] - 1, [len(cum) - 1]])] = 1.0
        level.sample_words = words
        level.sample_cum = group + share
        # contexts without any samplable word (only <s>/<unk> followers) never stay
        samplable = np.zeros(len(level.contexts), dtype=bool)
        samplable[group] = True
        level.samplable = samplable

    # ---------------------------------------------------------------- scoring
    def _context_keys(self, contexts: np.ndarray, size: int) -> np.ndarray:
        keys = np.zeros(len(contexts), dtype=np.int64)
        for j in range(contexts.shape[1] - (size - 1), contexts.shape[1]):
            keys = (keys << self.bits) | contexts[:, j]
        return keys

    @staticmethod
    def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.searchsorted(sorted_keys, keys)
        index = np.minimum(index, len(sorted_keys) - 1)
        return index, sorted_keys[index] == keys

    def score(self, words: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """``p(word | context)`` for id arrays: words (m,), contexts (m, order - 1), unknown ids already ``<unk>``."""
        level = self.levels[1]
        index, found = self._find(level.keys, words)
        p = np.where(found, level.alpha[index], 0.0) + self.uniform
        for size in range(2, self.order + 1):
            level = self.levels[size]
            key = self._context_keys(contexts, size)
            c_index, seen = self._find(level.contexts, key)
            e_index, found = self._find(level.keys, (key << self.bits) | words)
            p = np.where(seen, np.where(found, level.alpha[e_index], 0.0) + level.gamma[c_index] * p, p)
        return p

    def known(self, ids: np.ndarray) -> np.ndarray:
        """The ids with every word outside the model's vocabulary replaced by ``<unk>``."""
        index, found = self._find(self.vocabulary, ids)
        return np.where(found, ids, UNK_ID)

    def _events(self, corpus: TokenCorpus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What is scored, text by text: each word and one ``</s>`` per text, with its ``order - 1`` words of
        context (``<s>``-padded, unknown words as ``<unk>``), and how many events each text has."""
        pad = self.order - 1
        lengths = corpus.lengths + pad + 1
        starts = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.full(int(starts[-1]), EOS_ID, dtype=np.int64)
        flat[(starts[:-1, None] + np.arange(pad)).ravel()] = BOS_ID
        positions = np.repeat(starts[:-1] + pad - corpus.offsets[:-1], corpus.lengths) + np.arange(len(corpus.ids))
        flat[positions] = corpus.ids
        flat = self.known(flat)
        counts = corpus.lengths + 1
        targets = (
            np.repeat(starts[:-1] + pad, counts)
            + np.arange(int(counts.sum()))
            - np.repeat(np.cumsum(counts) - counts, counts)
        )
        contexts = np.stack([flat[targets - pad + j] for j in range(pad)], axis=1)
        return flat[targets], contexts, counts

    def perplexity(self, corpus: TokenCorpus) -> float:
        """``exp(-mean ln p)`` over every word and one ``</s>`` per text (as ``KneserNeyLM.perplexity_tokens``)."""
        words, contexts, _ = self._events(corpus)
        return float(np.exp(-np.log(self.score(words, contexts)).mean()))

    def text_log_probabilities(self, corpus: TokenCorpus) -> tuple[np.ndarray, np.ndarray]:
        """Per text: the sum of ``ln p`` over its words and one ``</s>``, and how many that is (as
        :meth:`perplexity` scores them: ``exp(-sums.sum() / counts.sum())`` is its value)."""
        words, contexts, counts = self._events(corpus)
        logs = np.log(self.score(words, contexts))
        sums = np.add.reduceat(logs, np.cumsum(counts) - counts) if len(logs) else np.zeros(len(counts))
        return sums, counts.astype(np.float64)

    # ---------------------------------------------------------------- sampling
    def _draw(self, contexts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = len(contexts)
        out = np.full(m, -1, dtype=np.int64)
        pending = np.arange(m)
        for size in range(self.order, 0, -1):
            if not pending.size:
                break
            level = self.levels[size]
            if size == 1:
                index = np.zeros(len(pending), dtype=np.int64)
                seen = np.ones(len(pending), dtype=bool)
            else:
                index, seen = self._find(level.contexts, self._context_keys(contexts[pending], size))
            seen &= level.samplable[index]
            stay = seen & (rng.random(len(pending)) < level.stay[index])
            chosen = pending[stay]
            if chosen.size:
                u = np.minimum(rng.random(chosen.size), 1.0 - 1e-9)
                position = np.searchsorted(level.sample_cum, index[stay] + u, side="right")
                out[chosen] = level.sample_words[np.minimum(position, len(level.sample_words) - 1)]
            pending = pending[~stay]
        if pending.size:
            out[pending] = self.uniform_words[rng.integers(0, len(self.uniform_words), pending.size)]
        return out

    def sample(self, count: int, rng: np.random.Generator, *, max_tokens: int) -> TokenCorpus:
        """``count`` texts drawn word by word from ``<s>`` until ``</s>`` (or ``max_tokens`` words)."""
        pad = self.order - 1
        contexts = np.full((count, pad), BOS_ID, dtype=np.int64)
        tokens = np.zeros((count, max_tokens), dtype=np.int64)
        lengths = np.full(count, max_tokens, dtype=np.int64)
        active = np.arange(count)
        for step in range(max_tokens):
            if not active.size:
                break
            words = self._draw(contexts[active], rng)
            ended = words == EOS_ID
            lengths[active[ended]] = step
            active, words = active[~ended], words[~ended]
            tokens[active, step] = words
            contexts[active] = np.concatenate([contexts[active, 1:], words[:, None]], axis=1)
        keep = np.arange(max_tokens)[None, :] < lengths[:, None]
        return TokenCorpus(tokens[keep], np.concatenate([[0], np.cumsum(lengths)]))
