"""What a mixture is and what is measured of it: the spec, the strategies, the guardrail, the metric names.

:class:`MixtureSpec` is the one description of a mixture (size, real share, weights per synthetic
set, strategy, seed) that the engine, the search, the export and the CLI all take;
:func:`guardrail` judges its real share; :data:`DEFINITIONS` names the metrics the engine reports
(:meth:`analysis.mixture.engine.MixtureEngine.metrics`), those :mod:`analysis.metrics.catalog` marks
``incremental``. Nothing here touches data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.errors import CollapseLabError
from analysis.judge.compare import CompareError
from analysis.metrics.catalog import incremental_metrics

__all__ = [
    "MixtureError",
    "MixtureSpec",
    "STRATEGIES",
    "EXACT",
    "APPROXIMATE",
    "DEFINITIONS",
    "guardrail",
    "WARNING_SHARE",
    "ALARM_SHARE",
]

STRATEGIES = ("uniform", "dedup", "tail-aware")
#: Real share below which :func:`guardrail` warns, and below which it raises an alarm.
WARNING_SHARE, ALARM_SHARE = 0.30, 0.20

#: The mixture metrics and what each measures (all against the real holdout): the catalogue's incremental metrics.
DEFINITIONS: dict[str, str] = {m.name: m.definition for m in incremental_metrics()}

#: Metrics of :meth:`analysis.mixture.engine.MixtureEngine.metrics` that equal :mod:`analysis.metrics` on the same rows
#: (up to floating-point summation order, below 1e-9), plus ``coverage bin <b>`` for every rarity bin.
EXACT: frozenset[str] = frozenset(DEFINITIONS)
#: Metrics the engine approximates, name -> one sentence for the UI. None: every metric is exact.
APPROXIMATE: dict[str, str] = {}


class MixtureError(CompareError, CollapseLabError):
    """A mixture cannot be built as asked; the message says what to change.

    A :class:`analysis.judge.compare.CompareError` (and so a ``ValueError``) as before, for callers that catch those.
    """


@dataclass(frozen=True)
class MixtureSpec:
    """What a mixture is: its size, real share, weights per synthetic set, strategy and seed.

    Parameters
    ----------
    size
        Total rows N of the mixture.
    real_share
        Share of the rows drawn from the real train split, in [0, 1]; ``round(real_share * size)``
        rows (halves round up).
    weights
        Weight per synthetic set name (``"llm"``, ``"llm g2"``, …); sets not named get 0. Empty:
        every synthetic set weighs the same. Only the ratios matter.
    strategy
        ``"uniform"``, ``"dedup"`` or ``"tail-aware"`` (see :mod:`analysis.mixture`).
    seed
        Seed of every random order; the same spec gives the same rows.
    protect
        Regions of the real data to protect: their ids as :func:`analysis.maps.gaps.find_gaps` numbers them
        (``Gap.region``), typically the named gaps of the synthetic sets. Empty: no protection.
    keep
        Share of the real train rows inside the protected regions that the mixture keeps, in [0, 1] (0: no
        protection). They come on top of the ``real_share`` draw and take the place of synthetic rows, so
        the size stays ``size`` and the real share actually mixed rises (see :mod:`analysis.mixture.protect`).
    """

    size: int
    real_share: float = 0.7
    weights: dict[str, float] = field(default_factory=dict)
    strategy: str = "uniform"
    seed: int = 0
    protect: tuple[int, ...] = ()
    keep: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or int(self.size) != self.size or self.size < 1:
            raise MixtureError(f"The mixture size must be a positive whole number, got {self.size!r}.")
        if not (0.0 <= float(self.real_share) <= 1.0) or math.isnan(float(self.real_share)):
            raise MixtureError(f"The real share must be between 0 and 1 (0 % to 100 %), got {self.real_share!r}.")
        if self.strategy not in STRATEGIES:
            raise MixtureError(f"Unknown strategy {self.strategy!r}; use one of {', '.join(STRATEGIES)}.")
        for name, weight in self.weights.items():
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise MixtureError(f"The weight of {name!r} must be a number >= 0, got {weight!r}.")
        if not (0.0 <= float(self.keep) <= 1.0) or math.isnan(float(self.keep)):
            raise MixtureError(
                f"The share of real data kept in protected regions must be between 0 and 1, got {self.keep!r}."
            )
        try:
            protect = tuple(sorted({int(region) for region in self.protect}))
        except (TypeError, ValueError):
            raise MixtureError(f"Protected regions are region numbers, got {self.protect!r}.") from None
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "real_share", float(self.real_share))
        object.__setattr__(self, "weights", {str(k): float(v) for k, v in self.weights.items()})
        object.__setattr__(self, "protect", protect)
        object.__setattr__(self, "keep", float(self.keep))

    @property
    def protects(self) -> bool:
        """Some real data inside named regions is kept on top of the real share (``protect`` and ``keep`` > 0)."""
        return bool(self.protect) and self.keep > 0

    def __hash__(self) -> int:
        return hash(
            (
                self.size,
                self.real_share,
                tuple(sorted(self.weights.items())),
                self.strategy,
                self.seed,
                self.protect,
                self.keep,
            )
        )

    def _repr_html_(self) -> str:
        """Size, real share and its guardrail, weights, escaped (Jupyter's rich display)."""
        from analysis.display import mixture_spec_html

        return mixture_spec_html(self, guardrail(self.real_share))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the manifest's ``spec``; :meth:`from_dict` reads it back). ``protect`` and ``keep``
        appear only when the spec protects regions, so manifests of unprotected mixtures read as before."""
        out = asdict(self)
        out["protect"] = list(self.protect)
        if not self.protect and not self.keep:
            del out["protect"], out["keep"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixtureSpec:
        """The spec of a :meth:`to_dict` dict; unknown keys raise :class:`MixtureError`."""
        unknown = set(data) - {"size", "real_share", "weights", "strategy", "seed", "protect", "keep"}
        if unknown:
            raise MixtureError(f"Unknown mixture settings: {', '.join(sorted(unknown))}.")
        if "size" not in data:
            raise MixtureError("A mixture spec needs a 'size'.")
        return cls(**{**data, "weights": dict(data.get("weights") or {}), "protect": tuple(data.get("protect") or ())})


def guardrail(real_share: float) -> tuple[str, str]:
    """The guardrail for a real share: ``("ok" | "warning" | "alarm", one sentence why)``.

    Below :data:`ALARM_SHARE` (20 %) an alarm, below :data:`WARNING_SHARE` (30 %) a warning.
    Rationale: training on mostly model-generated data makes models forget the tails of the real
    distribution, generation after generation (Shumailov et al., "AI models collapse when trained on
    recursively generated data", Nature 2024); keeping a fixed share of real data bounds the damage
    (Gerstgrasser et al., "Is Model Collapse Inevitable?", 2024), and practice keeps it above 20–30 %.
    """
    share = float(real_share)
    if share < ALARM_SHARE:
        return "alarm", (
            f"Only {share:.0%} real data: below {ALARM_SHARE:.0%}, models trained on mostly synthetic text lose the "
            f"rare part of the real distribution, and the loss compounds over generations; raise the real share."
        )
    if share < WARNING_SHARE:
        return "warning", (
            f"{share:.0%} real data is below the {WARNING_SHARE:.0%} that collapse-prevention practice keeps; "
            f"watch tail coverage and diversity, or raise the real share."
        )
    return "ok", f"{share:.0%} real data is within the usual guardrail (at least {WARNING_SHARE:.0%} real)."
