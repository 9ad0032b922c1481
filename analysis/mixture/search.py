"""Searching over mixtures with the engine: each metric against the real share, and a suggested mix.

:func:`frontier` evaluates the current mixture at a range of real shares (the designer's frontier
chart); :func:`suggest` searches a grid of weights and strategies for the best tail coverage at the
lowest real share the team allows. Both only call :meth:`analysis.mixture.engine.MixtureEngine.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from analysis.mixture.engine import MixtureEngine
from analysis.mixture.spec import STRATEGIES, MixtureError, MixtureSpec

__all__ = ["frontier", "suggest"]


def frontier(engine: MixtureEngine, spec: MixtureSpec, shares: Sequence[float] | None = None) -> pd.DataFrame:
    """Each metric as a function of the real share, for the current size, weights, strategy and seed.

    Parameters
    ----------
    engine, spec
        The engine and the current mixture; ``spec.real_share`` is added to ``shares`` if missing.
    shares
        Real shares to evaluate (default 0, 0.1, …, 1).

    Returns
    -------
    DataFrame
        One row per share, ascending: ``real_share``, ``current`` (True at the spec's share), ``ok``
        (False where the mixture is impossible, with the reason in ``reason`` and NaN metrics), then
        every metric of :meth:`MixtureEngine.metrics`.
    """
    asked = np.linspace(0, 1, 11) if shares is None else np.asarray(shares, dtype=float)
    rows = []
    for share in np.unique(np.round(np.append(asked, spec.real_share), 10)):
        row: dict[str, Any] = {
            "real_share": float(share),
            "current": bool(np.isclose(share, spec.real_share)),
            "ok": True,
            "reason": "",
        }
        try:
            row.update(engine.metrics(replace(spec, real_share=float(share))))
        except MixtureError as exc:
            row.update(ok=False, reason=str(exc))
        rows.append(row)
    return pd.DataFrame(rows)


def _simplex(sets: int, steps: int) -> list[tuple[int, ...]]:
    """Every tuple of ``sets`` whole numbers >= 0 summing to ``steps``: the weight grid :func:`suggest` searches."""
    if sets == 1:
        return [(steps,)]
    return [(first, *rest) for first in range(steps + 1) for rest in _simplex(sets - 1, steps - first)]


def suggest(
    engine: MixtureEngine,
    size: int,
    min_real_share: float,
    *,
    seed: int = 0,
    strategies: Sequence[str] = STRATEGIES,
    steps: int | None = None,
    max_points: int = 40,
) -> tuple[MixtureSpec, str]:
    """The weights and strategy with the best tail coverage at ``size`` and the lowest allowed real share.

    Searches a grid on the weight simplex (weights in multiples of ``1 / steps``; default: the finest
    grid with at most ``max_points`` points) times ``strategies``, at ``real_share = min_real_share``:
    the most synthetic data the team allows, which is where the choice of weights matters most.
    Candidates are ranked by tail coverage of the rarest 10 % of the real holdout, then of the rarest
    30 %, then by Vendi score (diversity) and distinct-2. Impossible mixtures (a set too small) are
    skipped.

    The ranking is measured on the real data the engine reports on (the real holdout, or every real sample
    where coverage is cross-fitted), so the chosen mixture's numbers are slightly optimistic (selection among a
    few dozen candidates); the explanation names which.

    Returns
    -------
    (MixtureSpec, str)
        The best spec and an explanation in words.

    Raises
    ------
    MixtureError
        When no candidate mixture is possible (the message of the last failure says why).
    """
    names = engine.set_names[1:]
    if steps is None:
        steps = 1
        while len(_simplex(len(names), steps + 1)) <= max_points and steps < 10:
            steps += 1
    grid = [point for point in _simplex(len(names), steps) if any(point)]
    results, last_error = [], None
    for strategy in strategies:
        for point in grid:
            spec = MixtureSpec(
                size=size,
                real_share=min_real_share,
                seed=seed,
                strategy=strategy,
                weights={name: w / steps for name, w in zip(names, point)},
            )
            try:
                values = engine.metrics(spec)
            except MixtureError as exc:
                last_error = exc
                continue
            key = (
                round(values["tail coverage (rarest 10%)"], 9),
                round(values["tail coverage (rarest 30%)"], 9),
                values["vendi"],
                values["distinct-2"],
            )
            results.append((key, spec, values))
    if not results:
        raise MixtureError(f"No mixture of this size and real share is possible. {last_error}")
    results.sort(key=lambda item: item[0], reverse=True)
    best_key, best, values = results[0]
    uniform_equal = MixtureSpec(size=size, real_share=min_real_share, seed=seed)
    try:
        reference = engine.metrics(uniform_equal)
    except MixtureError:
        reference = None
    ties = sum(1 for key, _, _ in results if key[:2] == best_key[:2])
    judged = "the real holdout" if engine.cover.fold is None else "the real data (cross-fitted)"  # coverage's reference
    weights = ", ".join(f"{name} {w:.0%}" for name, w in best.weights.items() if w > 0)
    text = (
        f"At {size:,} samples with {min_real_share:.0%} real data, {weights} with the {best.strategy} strategy covers "
        f"{values['tail coverage (rarest 10%)']:.1%} of the rarest tenth of {judged} and "
        f"{values['tail coverage (rarest 30%)']:.1%} of the rarest three tenths"
    )
    if reference is not None:
        text += (
            f" (equal weights, uniform: {reference['tail coverage (rarest 10%)']:.1%} and "
            f"{reference['tail coverage (rarest 30%)']:.1%})"
        )
    text += f"; {len(results)} possible mixtures compared (of {len(grid)} weightings × {len(strategies)} strategies)."
    if ties > 1:
        text += f" {ties} tie on tail coverage; the most diverse (Vendi {values['vendi']:.1f}) was chosen."
    text += f" Ranked and measured on {judged}, so slightly optimistic."
    return best, text
