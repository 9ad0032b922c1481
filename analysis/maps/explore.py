"""The Embedding map's logic: which points to draw, where they pile up, what a selection holds.

Plain functions over the sample table, its embeddings and its 2-D projection, so the page stays
a thin layer of widgets and the same answers are testable without a browser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.judge.compare import set_name
from analysis.maps.occupancy import occupancy_pvalues

__all__ = [
    "map_points",
    "set_names",
    "hover_text",
    "in_box",
    "in_polygon",
    "selection_mask",
    "selection_shares",
    "shortfall_p",
    "text_matches",
    "focus_mask",
    "nearest_rows",
    "nearest_synthetic",
    "TOOLTIP_CHARS",
]

#: Characters of a sample's text shown on hover (the table below shows it whole).
TOOLTIP_CHARS = 280


def set_names(samples: pd.DataFrame) -> pd.Categorical:
    """Each sample's set: ``real``, or the synthetic set's name as in ``compare`` (``llm``, ``llm g2``).

    Computed once per (method, generation) pair, so a million samples take a fraction of a second.
    """
    real = (samples["source"] == "real").to_numpy()
    method_codes, methods = pd.factorize(samples["method"].astype(str))
    generation_codes, generations = pd.factorize(samples["generation"].astype(int))
    codes, pairs = pd.factorize(method_codes * len(generations) + generation_codes)  # integers: fast
    uniques = [(methods[pair // len(generations)], int(generations[pair % len(generations)])) for pair in pairs]
    names = np.array([set_name(method, generation) for method, generation in uniques] + ["real"], dtype=object)
    codes = np.where(real, len(uniques), codes)
    categories, renumber = np.unique(names.astype(str), return_inverse=True)  # sorted, as pd.Categorical(values)
    return pd.Categorical.from_codes(renumber[codes], categories=categories)  # no million-string hashing


def hover_text(texts: pd.Series) -> pd.Series:
    """The first ``TOOLTIP_CHARS`` characters of each text (an ellipsis marks a cut), for a tooltip."""
    text = texts.astype(str)
    return text.where(text.str.len() <= TOOLTIP_CHARS, text.str.slice(0, TOOLTIP_CHARS - 1) + "…")


def map_points(samples: pd.DataFrame, xy: np.ndarray, *, hover: bool = True) -> pd.DataFrame:
    """One row per sample: ``row`` (position in ``samples``), id, x, y, source, method, generation,
    set (``real`` or the synthetic set's name as in ``compare``), label, split and a short ``hover`` text.

    With ``hover=False`` the hover text is left out (add it with :func:`hover_text` to the few rows
    drawn as points) and source, method, set and label are categoricals: a million samples then
    take about a second and a fraction of the memory.
    """
    if len(xy) != len(samples):
        raise ValueError(f"{len(xy)} map positions for {len(samples)} samples")
    samples = samples.reset_index(drop=True)
    names = set_names(samples)
    columns = {
        "row": np.arange(len(samples)),
        "id": samples["id"].astype(str),
        "x": xy[:, 0],
        "y": xy[:, 1],
        "source": samples["source"],
        "method": samples["method"],
        "generation": samples["generation"].astype(int),
        "set": names,
        "label": samples["label"].fillna("(no label)").astype(str),
        "split": samples["split"].fillna(""),
    }
    if hover:
        columns["set"] = np.asarray(names, dtype=object)
        columns["hover"] = hover_text(samples["text"])
    else:
        for name in ("source", "method", "label", "split"):
            columns[name] = pd.Categorical(columns[name])
    return pd.DataFrame(columns)


def in_box(points: pd.DataFrame, box: dict | None) -> np.ndarray:
    """Mask of the points inside a Vega-Lite interval selection (``{"x": [a, b], "y": [c, d]}``)."""
    mask = np.zeros(len(points), dtype=bool)
    if not box or "x" not in box or "y" not in box:
        return mask
    (x0, x1), (y0, y1) = sorted(box["x"]), sorted(box["y"])
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def in_polygon(points: pd.DataFrame, polygon: dict | None) -> np.ndarray:
    """Mask of the points inside a lasso (``{"x": [x0, x1, ...], "y": [y0, y1, ...]}``, the polygon's
    corners in map coordinates), by the even-odd rule (ray casting), over every point."""
    mask = np.zeros(len(points), dtype=bool)
    if not polygon or len(polygon.get("x") or ()) < 3 or len(polygon["x"]) != len(polygon.get("y") or ()):
        return mask
    px, py = np.asarray(polygon["x"], dtype=float), np.asarray(polygon["y"], dtype=float)
    x, y = points["x"].to_numpy(dtype=float), points["y"].to_numpy(dtype=float)
    candidates = np.flatnonzero((x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max()))
    cx, cy = x[candidates], y[candidates]
    inside = np.zeros(len(candidates), dtype=bool)
    for (x0, y0), (x1, y1) in zip(zip(px, py), zip(np.roll(px, -1), np.roll(py, -1))):
        crosses = (y0 > cy) != (y1 > cy)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (cy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (cx < at)
    mask[candidates[inside]] = True
    return mask


def selection_mask(points: pd.DataFrame, selection: dict | None) -> np.ndarray:
    """Mask of the points inside a Plotly selection (``st.plotly_chart``'s ``event.selection``), over every point.

    Its ``box`` entries (``{"x": [a, b], "y": [c, d]}``, :func:`in_box`) and ``lasso`` entries (``{"x": [...],
    "y": [...]}``, the path's corners, :func:`in_polygon`), all in map coordinates, are joined: shift-drawn
    selections add up, as they do on the chart. The ``points`` it lists (the few drawn in the browser) are not
    read: the shapes are applied to all points on the server.
    """
    mask = np.zeros(len(points), dtype=bool)
    for box in (selection or {}).get("box") or ():
        mask |= in_box(points, box)
    for lasso in (selection or {}).get("lasso") or ():
        mask |= in_polygon(points, lasso)
    return mask


def _group_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(each group's name as text, sorted; each row's position in it), hashing no text per row.

    A categorical column (the map's set and label, :func:`map_points`) gives its codes as they are: a million
    rows take milliseconds where ``astype(str)`` takes a second; a missing value there is the group ``"nan"``.
    Another column is grouped by its values as text (``1`` and ``"1"`` are one group), as before.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        uniques = list(column.cat.categories)
        if (codes < 0).any():
            codes = np.where(codes < 0, len(uniques), codes)
            uniques.append(np.nan)
    else:  # text per row, as before: a column of mixed values groups as its strings read
        codes, found = pd.factorize(column.astype(str), use_na_sentinel=False)
        uniques = list(found)
    names, merged = np.unique(np.array([str(value) for value in uniques], dtype=object), return_inverse=True)
    return names, merged.ravel()[codes] if len(uniques) else codes


def _equals(column: pd.Series, value: str) -> np.ndarray:
    """Mask of the rows of ``column`` that read ``value`` as text (by its codes where it is categorical)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        wanted = [code for code, name in enumerate(column.cat.categories) if str(name) == value]
        return np.isin(column.cat.codes.to_numpy(), wanted)
    return (column.astype(str) == value).to_numpy()


def selection_shares(points: pd.DataFrame, mask: np.ndarray, *, by: str = "set") -> pd.DataFrame:
    """What a selection holds, per group of ``by`` (``set`` or ``label``), as a cross-filter reads it.

    One row per group, largest share of its own first: ``selected`` (its samples in the selection),
    ``total`` (its samples on the map), ``share_of_group`` = selected / total (the lobe holds 14.8 % of
    real and 8.5 % of llm: llm under-reaches it) and ``share_of_selection`` = selected / all selected.
    """
    names, codes = _group_codes(points[by])
    total = np.bincount(codes, minlength=len(names))
    selected = np.bincount(codes[np.asarray(mask, dtype=bool)], minlength=len(names))
    present = total > 0  # a category no point has is no group (as before: groups were the values present)
    names, total, selected = names[present], total[present], selected[present]
    table = pd.DataFrame(
        {
            by: names,
            "selected": selected,
            "total": total,
            "share_of_group": selected / np.maximum(total, 1),
            "share_of_selection": selected / max(int(selected.sum()), 1),
        }
    )
    return table.sort_values(["share_of_group", by], ascending=[False, True], ignore_index=True)


def shortfall_p(shares: pd.DataFrame) -> np.ndarray:
    """Per row of :func:`selection_shares` ``by="set"``: the one-sided p-value that the set holds less of the
    selection than real data does, NaN for real itself (and for every row when real is not on the map).

    The occupancy test of the named gaps (:func:`analysis.maps.occupancy.occupancy_pvalues`, a continuity-corrected
    two-proportion z test; Fleiss, Levin & Paik, *Statistical Methods for Rates and Proportions*) with the selection
    as the one region and binomial variance: the lobe holding 14.8 % of 1,000 real samples and 8.5 % of 200 llm
    samples gives z = 2.27, p = 0.012 (Fisher's exact test: 0.010). The p-value is valid for a region chosen
    before looking at the sets; one drawn around what the eye found is a choice among many regions, which the
    named gaps correct for and this number does not.
    """
    is_real = shares["set"].astype(str).to_numpy() == "real"
    n_real = int(shares["total"].to_numpy()[is_real].sum())
    if n_real == 0:
        return np.full(len(shares), np.nan)
    real_share = shares["selected"].to_numpy()[is_real].sum() / n_real
    total = shares["total"].to_numpy()
    p = occupancy_pvalues(shares["selected"].to_numpy(), np.maximum(total, 1), real_share, n_real)
    return np.where(is_real | (total == 0), np.nan, p)


def text_matches(texts: pd.Series, query: str) -> np.ndarray:
    """Mask of the texts that contain ``query`` (case-insensitive substring, not a pattern); none for a blank query."""
    query = query.strip()
    if not query:
        return np.zeros(len(texts), dtype=bool)
    return texts.astype(str).str.contains(query, case=False, regex=False).to_numpy(dtype=bool)


def focus_mask(
    points: pd.DataFrame,
    texts: pd.Series,
    *,
    set_name: str | None = None,
    label: str | None = None,
    words: str = "",
    rows: np.ndarray | pd.Series | None = None,
) -> np.ndarray | None:
    """Which points the map draws in colour (the rest grey): those of ``set_name``, of ``label``, whose text
    contains ``words`` (:func:`text_matches`) and that are among ``rows`` (positions in ``texts``, e.g. a
    semantic search's :func:`nearest_rows`), every question asked at once; None when none is asked."""
    mask = np.ones(len(points), dtype=bool)
    asked = False
    if set_name:
        mask &= _equals(points["set"], set_name)
        asked = True
    if label:
        mask &= _equals(points["label"], label)
        asked = True
    if words.strip():
        mask &= text_matches(texts.iloc[points["row"].to_numpy()], words)
        asked = True
    if rows is not None:
        mask &= np.isin(points["row"].to_numpy(), np.asarray(rows))
        asked = True
    return mask if asked else None


def nearest_rows(
    embeddings: np.ndarray, query: np.ndarray, *, rows: np.ndarray | None = None, n: int = 50
) -> pd.DataFrame:
    """The ``n`` rows of ``embeddings`` (among ``rows``, default all) closest to the ``query`` vector
    (cosine): columns ``row`` and ``similarity``, best first. With the query embedded by the same model,
    this is semantic search."""
    rows = np.arange(len(embeddings)) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return pd.DataFrame({"row": np.zeros(0, int), "similarity": np.zeros(0)})
    query = np.asarray(query, dtype=np.float32).ravel()
    query_norm = max(float(np.linalg.norm(query)), 1e-12)
    similarity = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 65_536):  # blocks: never a copy of every vector at once
        pool = np.asarray(embeddings[rows[start : start + 65_536]], dtype=np.float32)
        norms = np.maximum(np.linalg.norm(pool, axis=1) * query_norm, 1e-12)
        similarity[start : start + len(pool)] = (pool @ query) / norms
    best = np.argsort(-similarity, kind="stable")[:n]
    return pd.DataFrame({"row": rows[best], "similarity": similarity[best].astype(float)})


def nearest_synthetic(embeddings: np.ndarray, row: int, synthetic_rows: np.ndarray, *, n: int = 5) -> pd.DataFrame:
    """The ``n`` synthetic rows closest (cosine) to sample ``row``: columns ``row`` and ``similarity``, best first."""
    return nearest_rows(embeddings, embeddings[row], rows=synthetic_rows, n=n)
