"""Model health under recursion: the Kneser-Ney n-gram model trained on its own sampled texts.

Each generation fits :class:`analysis.metrics.array_lm.ArrayKneserNey` (= :class:`analysis.metrics.lm.KneserNeyLM`)
and samples the next training texts; held-out perplexity on real text climbs while the sampled
texts lose entropy, vocabulary and rare words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from analysis.metrics.array_lm import UNK_ID, ArrayKneserNey, TokenCorpus, Vocabulary
from analysis.metrics.kernels import entropy_bits
from analysis.simulate.protocol import RowData, SimulationError
from analysis.simulate.real_data import real_texts

__all__ = ["NgramModel"]


class NgramModel(RowData):
    """The Kneser-Ney n-gram model trained on its own samples (model health under recursion).

    Real data: a seeded sample of ``n`` texts of the real train split (the demo's by default, or
    ``texts`` / ``samples``); the real holdout is the perplexity reference. Each generation fits
    :class:`ArrayKneserNey` (= :class:`analysis.metrics.lm.KneserNeyLM`) and samples ``n`` texts
    with ``temperature``, ``top_k`` and ``top_p``, each at most ``max_tokens`` words.

    Parameters
    ----------
    n
        Texts per generation (at least 10; at most the number of real train texts).
    order
        n-gram order, 2 or 3 (default 3).
    discount
        Kneser-Ney discount (default 0.75).
    temperature, top_k, top_p
        Sampling settings (default 1, None, 1: exact sampling from the model).
    max_tokens
        Longest sampled text in words (default: the longest real train text).
    samples, texts, holdout
        The real data: a sample table (real train / holdout splits), or lists of texts (``texts``
        split 90/10 by hash when ``holdout`` is None). Default: the demo corpus.
    embed_sample
        With a positive value, per generation embed a seeded subsample of that many generated
        texts with the embedding model and measure coverage and recall of the real holdout
        (slow: about 40 texts/s on 2 cores). Default 0 (off).
    rank_points
        Rows of the rank-frequency snapshot per generation (log-spaced ranks; default 120).
    examples
        Example texts per generation in the ``texts`` snapshot (default 3).
    """

    PARAMETERS: ClassVar[tuple[str, ...]] = (
        "order",
        "discount",
        "temperature",
        "top_k",
        "top_p",
        "max_tokens",
        "samples",
        "texts",
        "holdout",
        "embed_sample",
        "rank_points",
        "examples",
    )
    KEEPS_POINTS: ClassVar[bool] = False
    DEFAULT_N: ClassVar[int] = 1000
    METRICS: ClassVar[dict[str, str]] = {
        "perplexity": "Held-out perplexity of generation t's Kneser-Ney model on the real holdout, its uniform floor "
        "over the fixed vocabulary of the real data (train and holdout words), so generations are "
        "comparable (lower is better).",
        "entropy": "Shannon entropy (bits) of the word distribution of generation t's n sampled texts "
        "(Zhang et al. 2018).",
        "vocabulary": "Distinct words in generation t's n sampled texts.",
        "rare-token mass": "Share of the words in generation t's sampled texts that are rare in the real "
        "training texts R (seen there at most twice).",
        "rare-token coverage": "Share of the real training texts' rare words (seen at most twice) that "
        "generation t's sampled texts use.",
        "distinct-2": "Unique word bigrams over all bigrams of generation t's sampled texts (Li et al. 2016).",
        "coverage": "k-NN coverage of the real holdout by a seeded subsample of generation t's texts, "
        "in MiniLM embedding space (Naeem et al. 2020); with embed_sample > 0.",
        "recall": "k-NN recall of the real holdout by the same subsample (Naeem et al. 2020); with embed_sample > 0.",
    }

    def __init__(
        self,
        *,
        n: int,
        order: int = 3,
        discount: float = 0.75,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float = 0.9,
        max_tokens: int | None = None,
        samples: pd.DataFrame | None = None,
        texts: Sequence[str] | None = None,
        holdout: Sequence[str] | None = None,
        embed_sample: int = 0,
        rank_points: int = 120,
        examples: int = 3,
    ) -> None:
        if n < 10:
            raise SimulationError(f"n must be at least 10 texts for the n-gram model, got {n}")
        if not temperature > 0:
            raise SimulationError(f"temperature must be > 0, got {temperature}")
        if top_k is not None and int(top_k) < 1:
            raise SimulationError(f"top_k must be >= 1 or None, got {top_k}")
        if not 0 < top_p <= 1:
            raise SimulationError(f"top_p must be in (0, 1], got {top_p}")
        if int(order) not in (2, 3):
            raise SimulationError(f"order must be 2 or 3, got {order}")
        train, held = real_texts(samples, texts, holdout)
        if len(train) < n:
            raise SimulationError(
                f"n = {n} texts per generation, but the real data has only {len(train)} train "
                f"texts: lower n or add texts"
            )
        if not held:
            raise SimulationError("the real data has no holdout texts to measure perplexity on: pass holdout=[...]")
        self.n, self.order, self.discount = n, int(order), float(discount)
        self.temperature, self.top_p = float(temperature), float(top_p)
        self.top_k = None if top_k is None else int(top_k)
        self.embed_sample, self.rank_points, self.examples = int(embed_sample), int(rank_points), int(examples)
        self.vocabulary = Vocabulary()
        self.pool = self.vocabulary.encode(train)
        self.pool_texts = train
        self.holdout = self.vocabulary.encode(held)
        self.holdout_texts = held
        self.bits = max(8, int(len(self.vocabulary.words)).bit_length())
        self.fixed_vocabulary = np.array([i for i in range(len(self.vocabulary.words)) if i != UNK_ID], dtype=np.int64)
        self.max_tokens = int(max_tokens) if max_tokens is not None else int(self.pool.lengths.max())
        if self.max_tokens < 1:
            raise SimulationError(f"max_tokens must be >= 1, got {max_tokens}")
        try:  # validates order/bits/discount
            ArrayKneserNey(self.order, self.bits, discount=self.discount)
        except ValueError as exc:
            raise SimulationError(str(exc)) from None
        self._holdout_vectors: np.ndarray | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "discount": self.discount,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "embed_sample": self.embed_sample,
            "real_train_texts": len(self.pool),
            "real_holdout_texts": len(self.holdout),
        }

    def reference(self) -> dict[str, Any]:
        return {"real_train_texts": len(self.pool), "real_holdout_texts": len(self.holdout)}

    def real_data(self, rng: np.random.Generator) -> TokenCorpus:
        rows = np.sort(rng.choice(len(self.pool), self.n, replace=False))
        real = self.pool.take(rows)
        self.real_rows = rows
        counts = np.bincount(real.ids, minlength=len(self.vocabulary.words))
        self.rare = (counts > 0) & (counts <= 2)
        return real

    def fit(self, data: TokenCorpus, rng: np.random.Generator) -> ArrayKneserNey:
        return ArrayKneserNey(self.order, self.bits, discount=self.discount).fit(
            data, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, vocabulary=self.fixed_vocabulary
        )

    def sample(self, fitted: ArrayKneserNey, n: int, rng: np.random.Generator) -> TokenCorpus:
        corpus = fitted.sample(n, rng, max_tokens=self.max_tokens)
        corpus.ngram_counts(self.order, self.bits)  # counted once, merged by accumulate
        return corpus

    def measure(self, fitted: ArrayKneserNey, sample: TokenCorpus, rng: np.random.Generator) -> dict[str, float]:
        counts = np.bincount(sample.ids, minlength=len(self.vocabulary.words))
        # bigrams inside texts: not across a text boundary
        inside = np.ones(max(len(sample.ids) - 1, 0), dtype=bool)
        boundaries = sample.offsets[1:-1] - 1
        inside[boundaries[(boundaries >= 0) & (boundaries < len(inside))]] = False
        bigrams = (sample.ids[:-1][inside] << self.bits) | sample.ids[1:][inside]
        used = counts > 0
        out = {
            "perplexity": fitted.perplexity(self.holdout),
            "entropy": entropy_bits(counts),
            "vocabulary": float(used.sum()),
            "rare-token mass": float(counts[self.rare].sum() / max(counts.sum(), 1)),
            "rare-token coverage": float((used & self.rare).sum() / max(self.rare.sum(), 1)),
            "distinct-2": float(len(np.unique(bigrams)) / len(bigrams)) if len(bigrams) else 0.0,
        }
        if self.embed_sample > 0:
            out.update(self._embedding_metrics(sample, rng))
        return out

    def _embedding_metrics(self, sample: TokenCorpus, rng: np.random.Generator) -> dict[str, float]:
        from analysis.metrics.fidelity import prdc
        from analysis.vectors.embed import embed

        if self._holdout_vectors is None:
            self._holdout_vectors = embed(self.holdout_texts)
        nonempty = np.flatnonzero(sample.lengths > 0)
        rows = np.sort(rng.choice(nonempty, min(self.embed_sample, len(nonempty)), replace=False))
        vectors = embed(self.vocabulary.decode(sample, rows))
        k = max(1, min(5, len(rows) - 1, len(self._holdout_vectors) - 1))
        scores = prdc(self._holdout_vectors.astype(np.float64), vectors.astype(np.float64), k=k)
        return {"coverage": scores["coverage"], "recall": scores["recall"]}

    def snapshot(self, fitted: ArrayKneserNey, sample: TokenCorpus) -> dict[str, dict[str, np.ndarray]]:
        """``rank_frequency``: ``rank, token, count, share`` of generation t's sampled words at up to
        ``rank_points`` log-spaced ranks (always the first and last rank: the last is the
        vocabulary size); ``texts``: the first ``examples`` sampled texts (``text``)."""
        counts = np.bincount(sample.ids, minlength=len(self.vocabulary.words))
        ids = np.flatnonzero(counts)
        order = np.lexsort((ids, -counts[ids]))
        ids = ids[order]
        total = max(int(counts.sum()), 1)
        if len(ids):
            ranks = np.unique(np.round(np.geomspace(1, len(ids), self.rank_points)).astype(np.int64))
        else:
            ranks = np.zeros(0, dtype=np.int64)
        words = np.array(self.vocabulary.words, dtype=object)
        chosen = ids[ranks - 1]
        table = {"rank": ranks, "token": words[chosen], "count": counts[chosen], "share": counts[chosen] / total}
        examples = self.vocabulary.decode(sample, range(min(self.examples, len(sample))))
        return {"rank_frequency": table, "texts": {"text": np.array(examples, dtype=object)}}
