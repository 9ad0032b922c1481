"""Fill a named gap: new synthetic samples aimed at a region a set misses, then the gap measured again.

From a :class:`analysis.maps.gaps.Gap` (or a region and a set), :func:`fill_gap` writes new samples with the
generators that already exist (:func:`analysis.generate.generate`):

- ``llm``: the model is shown k real samples typical of the region (those nearest its centre, never the
  holdout) with the region's name as the topic;
- ``paraphrase``: the region's real samples the set misses most (least similar to any sample of the set)
  are rewritten, each new row keeping its ``parent_id``.

The new rows take the set's ``method`` and ``generation`` (added to the dataset they join the set),
with a ``gap`` column naming the region and ``fill_method`` the generator used. Near-copies of real
samples (:func:`analysis.metrics.novelty.copies`: the exact text of a real sample, or cosine at least
0.95 to the nearest one) are dropped and counted: a copy does not close a gap. Then the gaps are
measured again (:func:`analysis.maps.gaps.find_gaps` on the dataset with the kept rows added to the set) and
:class:`FillResult` says the region's occupancy before and after, whether it is still a gap, and where
the kept samples were placed. A small local model may well not close a gap; the result says so in
numbers rather than hiding it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import CollapseLabError
from analysis.generate import GenerationReport, generate
from analysis.judge.compare import set_name as name_of
from analysis.maps.explore import set_names
from analysis.maps.gaps import Gap, GapReport, find_gaps, percent_text
from analysis.maps.placement import knn_place
from analysis.maps.regions import unit_rows
from analysis.metrics.fidelity import nearest_similarity
from analysis.metrics.novelty import NEAR_COPY, copies

__all__ = ["FillError", "FillResult", "fill_gap", "fill_points", "resolve_region", "METHODS", "POOL"]

#: The generators a gap can be filled with.
METHODS = ("llm", "paraphrase")
#: Real samples typical of the region the llm prompts draw their k examples from.
POOL = 12


class FillError(CollapseLabError, ValueError):
    """A gap cannot be filled as asked (unknown set or region, no real sample to learn from); the message says why."""


@dataclass(frozen=True)
class FillResult:
    """What :func:`fill_gap` did: the new samples kept, those dropped, where they landed, and the gap before and after.

    ``before`` and ``after`` hold the region's row of :attr:`analysis.maps.gaps.GapReport.tested` for the set
    (``real_share``, ``set_share``, ``set_count``, ``set_size``, ``gap``, ``why``, ``p_value``);
    ``landed`` counts the kept samples per placed region name, ``landed_in_gap`` those placed in the
    gap's region. ``samples`` are the kept rows (the sample table with provenance, ``gap`` and
    ``fill_method`` columns) and ``embeddings`` theirs, ``dropped`` the rows dropped as copies of real samples.
    """

    set: str
    region: int
    name: str
    method: str
    requested: int
    generated: int
    kept: int
    dropped_copies: int
    rejected: dict[str, int]
    landed_in_gap: int
    landed: dict[str, int]
    before: dict[str, Any]
    after: dict[str, Any]
    gaps_before: int
    gaps_after: int
    seconds: float
    samples: pd.DataFrame = field(repr=False)
    dropped: pd.DataFrame = field(repr=False)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32), repr=False)
    generation: GenerationReport | None = field(default=None, repr=False)
    before_report: GapReport | None = field(default=None, repr=False)
    after_report: GapReport | None = field(default=None, repr=False)

    @property
    def still_gap(self) -> bool:
        return bool(self.after.get("gap", False))

    @property
    def closed(self) -> bool:
        return bool(self.before.get("gap", False)) and not self.still_gap

    def sentence(self) -> str:
        """The outcome in numbers: ``"law: 0.3% → 2.1% of llm (real 17%); still a gap. 6 kept, 1 dropped …"``."""
        b, a = self.before, self.after
        verdict = (
            "no longer a gap" if self.closed else ("still a gap" if self.still_gap else "not a gap before or after")
        )
        where = f"{self.landed_in_gap} of {self.kept} kept landed in the region" if self.kept else "none kept"
        return (
            f"{self.name}: {percent_text(b['set_share'])} → {percent_text(a['set_share'])} of {self.set} "
            f"(real {percent_text(a['real_share'])}); {verdict}. {self.method}: {self.kept} of {self.requested} kept, "
            f"{self.dropped_copies} dropped as copies of real samples; {where}."
        )

    def table(self) -> pd.DataFrame:
        """Before and after as a two-row table for a page or a CSV."""
        rows = []
        for when, values in (("before", self.before), ("after", self.after)):
            rows.append(
                {
                    "": when,
                    "share of real": values["real_share"],
                    f"share of {self.set}": values["set_share"],
                    "samples in region": values["set_count"],
                    "set size": values["set_size"],
                    "gap": values["gap"],
                    f"gaps of {self.set}": self.gaps_before if when == "before" else self.gaps_after,
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set,
            "region": self.region,
            "name": self.name,
            "method": self.method,
            "requested": self.requested,
            "generated": self.generated,
            "kept": self.kept,
            "dropped_copies": self.dropped_copies,
            "rejected": dict(self.rejected),
            "landed_in_gap": self.landed_in_gap,
            "landed": dict(self.landed),
            "before": dict(self.before),
            "after": dict(self.after),
            "still_gap": self.still_gap,
            "closed": self.closed,
            "gaps_before": self.gaps_before,
            "gaps_after": self.gaps_after,
            "seconds": self.seconds,
            "sentence": self.sentence(),
        }


def resolve_region(report: GapReport, region: int | str) -> int:
    """A region's id from its id, its id as text, its name, or a unique part of its name (case-insensitive)."""
    ids = {r.id for r in report.regions}
    if isinstance(region, (int, np.integer)) or (isinstance(region, str) and region.strip().isdigit()):
        number = int(region)
        if number in ids:
            return number
        raise FillError(f"There is no region {number}: the real data has regions 0 to {max(ids, default=-1)}.")
    text = str(region).strip().lower()
    exact = [r.id for r in report.regions if r.name.lower() == text]
    if exact:
        return exact[0]
    partial = [r for r in report.regions if text and text in r.name.lower()]
    if len(partial) == 1:
        return partial[0].id
    names = "; ".join(f"{r.id}: {r.name}" for r in (partial or report.regions))
    what = "matches several regions" if partial else "matches no region"
    raise FillError(f"{region!r} {what}. Give a region's number or its name ({names}).")


def _tested(report: GapReport, set_name: str, region: int) -> dict[str, Any]:
    tested = report.tested
    row = tested[(tested["set"] == set_name) & (tested["region"] == region)]
    if row.empty:
        raise FillError(f"The set {set_name!r} was not measured against region {region}.")
    values = row.iloc[0]
    return {
        "real_share": float(values["real_share"]),
        "set_share": float(values["set_share"]),
        "set_count": int(values["set_count"]),
        "set_size": int(values["set_size"]),
        "gap": bool(values["gap"]),
        "why": str(values["why"]),
        "p_value": float(values["p_value"]),
    }


def _set_key(samples: pd.DataFrame, report: GapReport, set_name: str | None) -> tuple[str, str, int]:
    """The set's name, method and generation (the one synthetic set where ``set_name`` is None)."""
    names = list(report.gaps)
    if set_name is None:
        if len(names) != 1:
            raise FillError(f"Say which set to fill: the dataset has {len(names)} synthetic sets ({', '.join(names)}).")
        set_name = names[0]
    if set_name not in report.gaps:
        raise FillError(f"There is no synthetic set {set_name!r}; the sets are {', '.join(names) or 'none'}.")
    synthetic = samples[samples["source"] != "real"]
    for method, generation in {(m, int(g)) for m, g in zip(synthetic["method"], synthetic["generation"])}:
        if name_of(method, generation) == set_name:
            return set_name, str(method), generation
    raise FillError(f"There is no synthetic set {set_name!r}.")  # pragma: no cover (report and samples agree)


def fill_gap(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    gap_or_region: Gap | int | str,
    *,
    set_name: str | None = None,
    method: str = "llm",
    n: int = 6,
    seed: int = 0,
    backend: Any = None,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    near: float = NEAR_COPY,
    pool: int = POOL,
    by_label: bool | None = None,
    cache_dir: Any = None,
    checkpoint: Any = None,
    resume: bool = True,
    on_stage: Callable[[str, str], object] | None = None,
    progress: Callable[[int, int], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
    before: GapReport | None = None,
    **params: Any,
) -> FillResult:
    """Generate ``n`` samples aimed at a named gap, drop copies of real samples, and measure the gap again.

    Parameters
    ----------
    samples, embeddings
        The dataset (real data and synthetic sets, as :func:`analysis.maps.gaps.find_gaps` takes it) and its
        row-aligned embeddings.
    gap_or_region
        A :class:`~analysis.maps.gaps.Gap` (its set and region), or a region's id or name
        (:func:`resolve_region`) with ``set_name`` (may be left out when there is one synthetic set).
    method
        ``"llm"`` (k real samples typical of the region shown, its name as the topic) or
        ``"paraphrase"`` (the region's real samples the set misses most, rewritten).
    n, seed, backend, checkpoint, resume, should_stop, progress, **params
        As :func:`analysis.generate.generate` takes them (``k``, ``temperature``, ...).
    embed
        Texts → embeddings of the same model as ``embeddings`` (default :func:`analysis.vectors.embed.embed`).
    near
        Cosine to the nearest real sample from which a new sample is a near-copy and is dropped.
    pool
        Real samples typical of the region the llm prompts draw their examples from.
    by_label, cache_dir
        The regions, as :func:`~analysis.maps.gaps.find_gaps` takes them.
    on_stage
        ``on_stage(stage, text)``: ``"measure"``, then generate's stages (its ``"done"`` reported as
        ``"generated"``), ``"embed"``, ``"check"``, ``"remeasure"`` and ``"done"``.
    before
        The gap report of ``samples`` when the caller has it (saves measuring twice); None: measured here.

    Raises
    ------
    FillError
        An unknown set, region or method, or no real sample in the region to learn from.
    analysis.generate.GenerationError
        When generation cannot go on (the model fails, too many outputs rejected).
    """
    if method not in METHODS:
        raise FillError(f"Unknown fill method {method!r}: choose one of {', '.join(METHODS)}.")
    started = time.perf_counter()
    stage: Callable[[str, str], object] = on_stage or (lambda name, text: None)
    samples = samples.reset_index(drop=True)
    embeddings = np.asarray(embeddings)
    if isinstance(gap_or_region, Gap):
        set_name = gap_or_region.set
    if before is None:
        stage("measure", "Measuring the gaps…")
        before = find_gaps(samples, embeddings, seed=seed, by_label=by_label, cache_dir=cache_dir)
    set_name, set_method, set_generation = _set_key(samples, before, set_name)
    region = gap_or_region.region if isinstance(gap_or_region, Gap) else resolve_region(before, gap_or_region)
    region_name = next(r.name for r in before.regions if r.id == region)
    main_label = next((r.labels[0] for r in before.regions if r.id == region and r.labels), None)
    before_row = _tested(before, set_name, region)

    real = (samples["source"] == "real").to_numpy()
    usable = np.flatnonzero(real & (before.region_of == region) & (samples["split"] != "holdout").to_numpy())
    if len(usable) == 0:
        raise FillError(
            f"Region {region_name!r} holds no real training sample to learn from (only holdout samples, kept for "
            "evaluation). Load more real data of this kind."
        )
    unit = unit_rows(embeddings[usable])
    if method == "llm":
        centre = unit.mean(axis=0)
        centre = centre / (np.linalg.norm(centre) or 1.0)
        order = np.lexsort((usable, -(unit @ centre)))  # nearest the centre first; ties by row
        chosen = usable[order[: max(pool, int(params.get("k", 3)))]]
        inputs = samples.iloc[chosen].assign(label=region_name)
    else:
        set_rows = np.flatnonzero(
            ~real & (samples["method"] == set_method).to_numpy() & (samples["generation"] == set_generation).to_numpy()
        )
        similarity, _ = nearest_similarity(embeddings[usable], embeddings[set_rows])
        order = np.lexsort((usable, similarity))  # least matched by the set first
        chosen = usable[order[:n]]
        inputs = samples.iloc[chosen]

    def generating(name: str, text: str) -> None:
        stage("generated" if name == "done" else name, text)

    generated = generate(
        method,
        inputs,
        n,
        seed=seed,
        backend=backend,
        method_name=f"fill-r{region}",
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        on_stage=generating,
        should_stop=should_stop,
        **params,
    )
    new = generated.samples.copy()
    new["method"] = set_method
    new["generation"] = set_generation
    new["gap"] = region_name
    new["fill_method"] = method
    if method == "llm":
        new["label"] = main_label
    new = new.reset_index(drop=True)

    if embed is None:
        from analysis.vectors.embed import embed as embed_texts

        embed = embed_texts
    stage("embed", f"Embedding {len(new):,} new samples…")
    new_embeddings = (
        np.asarray(embed(new["text"].tolist())) if len(new) else np.zeros((0, embeddings.shape[1]), np.float32)
    )
    stage("check", "Checking the new samples for copies of real samples…")
    real_rows = np.flatnonzero(real)
    copy = (
        copies(samples["text"].to_numpy()[real_rows], new["text"], embeddings[real_rows], new_embeddings, near=near)
        if len(new)
        else np.zeros(0, dtype=bool)
    )
    kept, dropped = new[~copy].reset_index(drop=True), new[copy].reset_index(drop=True)
    kept_embeddings = new_embeddings[~copy]

    stage("remeasure", "Measuring the gap again with the new samples added…")
    combined = pd.concat([samples, kept], ignore_index=True)
    after = find_gaps(
        combined,
        np.concatenate([embeddings, kept_embeddings.astype(embeddings.dtype, copy=False)]),
        seed=seed,
        by_label=by_label,
        cache_dir=cache_dir,
    )
    after_row = _tested(after, set_name, region)
    placed = after.placed[len(samples) :]
    names = {r.id: r.name for r in after.regions}
    landed = {names[int(r)]: int(c) for r, c in zip(*np.unique(placed[placed >= 0], return_counts=True))}
    landed = dict(sorted(landed.items(), key=lambda item: -item[1]))
    result = FillResult(
        set=set_name,
        region=region,
        name=region_name,
        method=method,
        requested=n,
        generated=len(new),
        kept=len(kept),
        dropped_copies=len(dropped),
        rejected=dict(generated.report.rejected),
        landed_in_gap=int((placed == region).sum()),
        landed=landed,
        before=before_row,
        after=after_row,
        gaps_before=len(before.gaps.get(set_name, [])),
        gaps_after=len(after.gaps.get(set_name, [])),
        seconds=round(time.perf_counter() - started, 3),
        samples=kept,
        dropped=dropped,
        embeddings=kept_embeddings,
        generation=generated.report,
        before_report=before,
        after_report=after,
    )
    stage("done", result.sentence())
    return result


def fill_points(samples: pd.DataFrame, embeddings: np.ndarray, xy: np.ndarray, result: FillResult) -> pd.DataFrame:
    """The map of a fill: where the gap's region and the new samples lie on the dataset's 2-D map.

    ``samples``, ``embeddings`` and ``xy`` are the table the gap was found on (row-aligned, its map positions);
    the new samples (``result.embeddings``) are placed on that map by their nearest samples
    (:func:`analysis.maps.placement.knn_place`), as the map places rows it was not fitted on. Returns columns
    ``x``, ``y`` and ``kind``: ``real in the region``, ``real elsewhere``, ``<set> before`` (the set's samples)
    and ``new`` (the kept samples).
    """
    report = result.before_report
    names = np.asarray(set_names(samples), dtype=str)
    real = (samples["source"] == "real").to_numpy()
    in_region = np.zeros(len(samples), dtype=bool)
    if report is not None and len(report.region_of) == len(samples):
        in_region = real & (np.asarray(report.region_of) == result.region)
    kind = np.where(in_region, "real in the region", np.where(real, "real elsewhere", ""))
    kind = np.where(names == result.set, f"{result.set} before", kind)
    shown = kind != ""
    frame = pd.DataFrame({"x": xy[shown, 0], "y": xy[shown, 1], "kind": kind[shown]})
    if result.kept and len(result.embeddings):
        placed = knn_place(embeddings, xy, result.embeddings)
        frame = pd.concat(
            [frame, pd.DataFrame({"x": placed[:, 0], "y": placed[:, 1], "kind": "new"})], ignore_index=True
        )
    return frame
