"""The real data the text models start from: given texts or vectors, a sample table, or the demo."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.simulate.protocol import SimulationError

__all__ = ["real_texts", "real_vectors"]


def real_texts(
    samples: pd.DataFrame | None, texts: Sequence[str] | None, holdout: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """(real train texts, real holdout texts): given, from a sample table, or the demo's."""
    if texts is not None:
        train = [str(t) for t in texts if str(t).strip()]
        if holdout is None:
            from analysis.corpus import assign_split

            split = assign_split(list(train)).to_numpy()
            held = [t for t, s in zip(train, split) if s == "holdout"]
            train = [t for t, s in zip(train, split) if s == "train"]
        else:
            held = [str(t) for t in holdout if str(t).strip()]
        return train, held
    if samples is None:
        from analysis.demo import load_demo

        samples = load_demo(synthetic=False)
    missing = {"text", "source", "split"} - set(samples.columns)
    if missing:
        raise SimulationError(
            f"the sample table lacks column(s) {sorted(missing)}: pass a table from analysis.corpus (or texts=[...])"
        )
    real = samples[samples["source"] == "real"]
    return real.loc[real["split"] == "train", "text"].tolist(), real.loc[real["split"] == "holdout", "text"].tolist()


def real_vectors(
    samples: pd.DataFrame | None,
    embeddings: np.ndarray | None,
    holdout_embeddings: np.ndarray | None,
    texts: Sequence[str] | None,
    holdout: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(real train embeddings, real holdout embeddings), float64: given, or embeddings of :func:`real_texts`."""
    if embeddings is not None:
        train = np.asarray(embeddings, dtype=np.float64)
        if holdout_embeddings is None:
            raise SimulationError("with embeddings=..., pass holdout_embeddings=... too (the real reference)")
        return train, np.asarray(holdout_embeddings, dtype=np.float64)
    from analysis.vectors.embed import embed

    train_texts, held = real_texts(samples, texts, holdout)
    return embed(train_texts).astype(np.float64), embed(held).astype(np.float64)
