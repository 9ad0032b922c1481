"""The from-scratch oracle: every metric the mixture engine reports, computed directly on the rows.

:func:`metrics_from_scratch` calls :mod:`analysis.metrics` on a mixture's rows with no
precomputation (new distance matrices for every call). The engine
(:class:`analysis.mixture.engine.MixtureEngine`) is tested against it for equality
(tests/test_mixture.py) and timed against it (tests/benchmarks/bench_mixture.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics import diversity, drift, fidelity, tails

__all__ = ["metrics_from_scratch"]


def metrics_from_scratch(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    reference_rows: np.ndarray,
    rows: np.ndarray,
    *,
    k: int = 5,
    bins: int = 10,
) -> dict[str, float]:
    """Every metric of :meth:`~analysis.mixture.engine.MixtureEngine.metrics`, computed directly on ``rows``.

    With :mod:`analysis.metrics` on the rows themselves: the reference the engine is checked against
    (tests) and timed against (benchmark); no precomputation, new distance matrices for every call.
    """
    ref_x, x = embeddings[reference_rows].astype(np.float64), embeddings[rows].astype(np.float64)
    texts = list(samples["text"].to_numpy()[rows])
    out = dict(fidelity.prdc(ref_x, x, k=k))
    radii = tails.rarity(ref_x, k=k)
    bin_of = tails.rarity_bins(radii, bins)
    covered = fidelity.covered_by(ref_x, x, radii)
    out["tail coverage (rarest 10%)"] = covered[bin_of >= bins - 1].mean()
    out["tail coverage (rarest 30%)"] = covered[bin_of >= bins - 3].mean()
    table = tails.tail_coverage(ref_x, x, k=k, bins=bins)
    out.update({f"coverage bin {b}": c for b, c in zip(table["bin"], table["coverage"])})
    for n in (1, 2):
        out[f"distinct-{n}"] = diversity.distinct_n(texts, n)
        out[f"entropy-{n}"] = diversity.ngram_entropy(texts, n)
    out["vendi"] = diversity.vendi_score(x)
    out["centroid shift"] = drift.centroid_shift(ref_x, x)
    out["rare-token coverage"] = tails.rare_token_coverage(samples["text"].to_numpy()[reference_rows], texts)
    return out
