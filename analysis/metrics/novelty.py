"""Novelty: is the synthetic set new text, or copies of the real data and of itself?"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.metrics.fidelity import nearest_similarity

__all__ = ["novelty", "duplicate_rate", "copies", "NEAR_COPY"]

#: Cosine to the nearest real sample from which a synthetic sample is a near-copy.
NEAR_COPY = 0.95


def novelty(
    real_texts: Sequence[str],
    synthetic_texts: Sequence[str],
    real_embeddings: np.ndarray,
    synthetic_embeddings: np.ndarray,
    *,
    near: float = NEAR_COPY,
    similarity: np.ndarray | None = None,
) -> dict[str, float]:
    """Copy and near-copy rates of a synthetic set.

    - ``nearest_real_similarity``: mean over synthetic samples of the cosine similarity to the
      nearest real sample (higher = closer to real data, less novel);
    - ``exact_copy_rate``: share of synthetic texts identical to a real text;
    - ``near_copy_rate``: share whose nearest real sample has cosine >= ``near`` (default 0.95);
    - ``duplicate_rate``: share of synthetic texts that repeat an earlier synthetic text.

    Rates in [0, 1]; lower is more novel. Reference: memorisation checks as in Carlini et al.,
    "Extracting Training Data from Large Language Models", 2021 (exact) and embedding near-duplicate
    detection (near). ``similarity`` may pass the nearest-real similarities already computed.
    """
    if len(synthetic_texts) != len(synthetic_embeddings) or len(real_texts) != len(real_embeddings):
        raise ValueError("texts and embeddings must have the same length")
    if similarity is None:
        similarity, _ = nearest_similarity(synthetic_embeddings, real_embeddings)
    real_set = set(real_texts)
    synthetic = list(synthetic_texts)
    return {
        "nearest_real_similarity": float(similarity.mean()),
        "exact_copy_rate": float(np.mean([t in real_set for t in synthetic])),
        "near_copy_rate": float((similarity >= near).mean()),
        "duplicate_rate": duplicate_rate(synthetic),
    }


def duplicate_rate(texts: Sequence[str]) -> float:
    """Share of ``texts`` that repeat an earlier text of the same list; range [0, 1], lower is more novel."""
    texts = list(texts)
    return float(1 - len(set(texts)) / len(texts))


def copies(
    real_texts: Sequence[str],
    synthetic_texts: Sequence[str],
    real_embeddings: np.ndarray,
    synthetic_embeddings: np.ndarray,
    *,
    near: float = NEAR_COPY,
) -> np.ndarray:
    """Which synthetic samples copy real data, per sample: the exact text of a real sample, or a near-copy
    (cosine to the nearest real sample at least ``near``), as :func:`novelty` counts them."""
    synthetic = list(synthetic_texts)
    if len(synthetic) != len(synthetic_embeddings) or len(real_texts) != len(real_embeddings):
        raise ValueError("texts and embeddings must have the same length")
    if not synthetic:
        return np.zeros(0, dtype=bool)
    similarity, _ = nearest_similarity(synthetic_embeddings, real_embeddings)
    real_set = set(real_texts)
    return np.array([t in real_set for t in synthetic], dtype=bool) | (similarity >= near)
