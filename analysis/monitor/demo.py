"""The demo's monitor history: its recursive llm generations scored as the snapshots of one series."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.judge.compare import cached_compare
from analysis.monitor.store import history_frame, records_of_table

__all__ = ["demo_history"]


def demo_history(
    *, size: int = 300, seed: int = 0, with_mauve: bool = False, cache_dir: str | Path | None = None
) -> pd.DataFrame:
    """The demo's recursive llm generations 1 → 3 as the snapshots of a series ``llm``.

    Each generation is scored alone against the demo's real holdout (as a :class:`Monitor`
    would), at the same ``size`` (300: the size of generations 2 and 3), with the shipped demo
    vectors, through :func:`analysis.judge.compare.cached_compare` (computed once per cache).

    Parameters
    ----------
    size, seed, with_mauve, cache_dir
        As in :func:`analysis.judge.compare.compare` / :func:`analysis.judge.compare.cached_compare`.

    Returns
    -------
    DataFrame
        :data:`HISTORY_COLUMNS`, snapshots ``llm g1``, ``llm g2``, ``llm g3`` with generations 1-3.
    """
    from analysis.demo import load_demo
    from analysis.vectors.embed import embed

    samples = load_demo()
    real = (samples["source"] == "real").to_numpy()
    llm = (samples["method"] == "llm").to_numpy() & ~real
    vectors = embed(samples["text"][real | llm])
    samples = samples[real | llm].reset_index(drop=True)
    real, generations = real[real | llm], samples["generation"].to_numpy()
    records = []
    for generation in sorted(set(generations[~real].tolist())):
        keep = real | (generations == generation)
        table = cached_compare(
            samples[keep].reset_index(drop=True),
            vectors[keep],
            cache_dir=cache_dir,
            size=size,
            seed=seed,
            with_mauve=with_mauve,
        )
        (record,) = records_of_table(table)
        record.update(
            {
                "series": "llm",
                "snapshot": f"llm g{generation}",
                "generation": int(generation),
                "n": int((~real & (generations == generation)).sum()),
                "added_at": None,
            }
        )
        records.append(record)
    return history_frame(records)
