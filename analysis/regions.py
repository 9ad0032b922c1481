"""Named regions of the real data: density clusters on the 2-D map, each named by its most distinctive words.

Why the map and not the embeddings: on the demo (10,033 real Wikipedia summaries, 12 topic
labels) HDBSCAN on the default UMAP map gives clusters that match the topics far better than on a
PCA reduction of the MiniLM embeddings: adjusted Rand 0.27 (non-noise points; 0.22 with noise
assigned to the nearest cluster), purity 0.55, 19 regions, against at best 0.18 ARI and 0.43
purity with 4-5 clusters and 55-70 % noise on 5, 10 or 20 PCA dimensions. Leaf selection is used
because excess-of-mass collapsed the demo into 2-3 clusters at some settings.

A region's name is its top terms by class-based TF-IDF (c-TF-IDF, Grootendorst 2022, BERTopic):
for term ``t`` and region ``c``, ``tf(t, c) × log(1 + A / f(t))``, with ``tf(t, c)`` the share of
region c's words that are t, ``A`` the mean number of words per region and ``f(t)`` the count of t
across all regions. Words are lower-cased letters (2+), minus scikit-learn's English stop-word
list; no model is downloaded. Ties break alphabetically, and HDBSCAN is deterministic, so the
same map, texts and seed give the same regions and names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Region",
    "RegionMap",
    "find_regions",
    "ctfidf_terms",
    "min_cluster_size",
    "label_positions",
    "region_name_layer",
    "FIT_AT_MOST",
]

#: HDBSCAN is fitted on at most this many points (seeded sample); the others join their nearest fitted point's region.
FIT_AT_MOST = 20_000
#: Terms per region name, and terms kept per region.
NAME_TERMS = 3
KEEP_TERMS = 10
#: Between a name's terms: "war / empire / roman".
NAME_JOIN = " / "
_TOKEN = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # words of two or more letters: no numbers, no underscores


@dataclass(frozen=True)
class Region:
    """One named region of the real data: ``x``, ``y`` is its centre on the map (the members' median)."""

    id: int
    name: str
    terms: tuple[str, ...]
    size: int
    x: float
    y: float

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "terms": list(self.terms),
            "size": self.size,
            "x": None if not np.isfinite(self.x) else float(self.x),
            "y": None if not np.isfinite(self.y) else float(self.y),
        }


@dataclass(frozen=True)
class RegionMap:
    """The regions and each clustered row's region id (``labels``, aligned with the rows given)."""

    regions: list[Region]
    labels: np.ndarray

    def members(self, region: int) -> np.ndarray:
        """Positions (among the rows given to :func:`find_regions`) of the region's members."""
        return np.flatnonzero(self.labels == region)


def min_cluster_size(n: int) -> int:
    """HDBSCAN's smallest region: a fiftieth of the fitted points, at least 10 (200 on the demo's 10,033)."""
    return max(10, n // 50)


def ctfidf_terms(texts: pd.Series | list[str], labels: np.ndarray, *, top: int = KEEP_TERMS) -> dict[int, list[str]]:
    """Each label's ``top`` terms by c-TF-IDF (module docstring), best first, ties alphabetical."""
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels)
    ids = sorted(int(c) for c in np.unique(labels))
    documents = [" ".join(np.asarray(texts, dtype=object)[labels == c]) for c in ids]
    try:
        vectorizer = CountVectorizer(lowercase=True, stop_words="english", token_pattern=_TOKEN)
        counts = vectorizer.fit_transform(documents).astype(np.float64).toarray()
    except ValueError:  # no word at all (only numbers or stop words)
        return {c: [] for c in ids}
    vocabulary = vectorizer.get_feature_names_out()
    words = counts.sum(axis=1, keepdims=True)
    tf = counts / np.maximum(words, 1.0)
    mean_words = float(words.mean())
    weight = np.log1p(mean_words / np.maximum(counts.sum(axis=0), 1.0))
    scores = tf * weight[None, :]
    out = {}
    alphabetical = np.argsort(vocabulary, kind="stable")
    for i, c in enumerate(ids):
        row = scores[i, alphabetical]
        order = alphabetical[np.argsort(-row, kind="stable")]  # best first; alphabetical among equals
        out[c] = [str(vocabulary[j]) for j in order[:top] if scores[i, j] > 0]
    return out


def _names(terms: dict[int, list[str]]) -> dict[int, str]:
    """Names of ``NAME_TERMS`` terms; a name already taken gets more terms, then a number."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for c, words in terms.items():
        name = NAME_JOIN.join(words[:NAME_TERMS]) or f"region {c + 1}"
        extra = NAME_TERMS
        while name in taken and extra < len(words):
            extra += 1
            name = NAME_JOIN.join(words[:extra])
        if name in taken:
            name = f"{name} ({c + 1})"
        taken.add(name)
        names[c] = name
    return names


def _cluster(xy: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN labels for every row of ``xy`` (noise and unfitted rows join their nearest fitted cluster
    point) and the rows HDBSCAN was fitted on (all rows up to :data:`FIT_AT_MOST`, else a seeded sample)."""
    from sklearn.cluster import HDBSCAN
    from sklearn.neighbors import NearestNeighbors

    n = len(xy)
    fitted = np.arange(n)
    if n > FIT_AT_MOST:
        fitted = np.sort(np.random.default_rng(seed).choice(n, size=FIT_AT_MOST, replace=False))
    labels = np.zeros(n, dtype=np.int64)
    if len(fitted) <= min_cluster_size(len(fitted)):
        return labels, fitted
    found = HDBSCAN(
        min_cluster_size=min_cluster_size(len(fitted)),
        min_samples=10 if len(fitted) > 10 else None,
        cluster_selection_method="leaf",
        copy=True,
    ).fit_predict(xy[fitted])
    clustered = fitted[found >= 0]
    if len(clustered) == 0:
        return labels, fitted
    labels[clustered] = found[found >= 0]
    rest = np.setdiff1d(np.arange(n), clustered, assume_unique=True)
    if len(rest):
        nearest = NearestNeighbors(n_neighbors=1).fit(xy[clustered]).kneighbors(xy[rest], return_distance=False)[:, 0]
        labels[rest] = labels[clustered[nearest]]
    return labels, fitted


def find_regions(texts: pd.Series | list[str], xy: np.ndarray, *, seed: int = 0) -> RegionMap:
    """Cluster the points ``xy`` (the real samples on the map) and name each cluster from ``texts``.

    Parameters
    ----------
    texts
        The samples' texts, aligned with ``xy``.
    xy
        (n, 2) map coordinates of the same samples.
    seed
        Seeds the sample HDBSCAN is fitted on when there are more than :data:`FIT_AT_MOST` points.

    Returns
    -------
    RegionMap
        Regions numbered by falling size (0 = largest, ties by lower centre x), each with its name,
        terms, size and centre; ``labels`` gives each row's region. Every row is in a region:
        HDBSCAN's noise joins the region of its nearest clustered point. Above :data:`FIT_AT_MOST`
        points the regions are found and named on the seeded sample HDBSCAN is fitted on (its
        texts only: naming 735,000 texts took most of a minute), and every other point joins the
        region of its nearest clustered point on the map; sizes and centres count every point.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(texts):
        raise ValueError(f"xy must be an (n, 2) array aligned with the {len(texts)} texts, got shape {xy.shape}")
    if len(xy) == 0:
        return RegionMap([], np.zeros(0, dtype=np.int64))
    raw, fitted = _cluster(xy, seed)
    ids, raw = np.unique(raw, return_inverse=True)  # raw: 0 .. len(ids) - 1
    sizes = np.bincount(raw, minlength=len(ids))
    by_region = np.argsort(raw, kind="stable")
    groups = np.split(xy[by_region], np.cumsum(sizes)[:-1])
    centres = np.array([np.median(group, axis=0) for group in groups])
    order = np.lexsort((centres[:, 1], centres[:, 0], -sizes))  # largest first; deterministic among equals
    renumber = np.empty(len(ids), dtype=np.int64)
    renumber[order] = np.arange(len(ids))
    labels = renumber[raw]
    named = fitted if len(fitted) < len(xy) else slice(None)
    terms = ctfidf_terms(np.asarray(texts, dtype=object)[named], labels[named])
    terms = {c: terms.get(c, []) for c in range(len(ids))}
    names = _names(terms)
    regions = [
        Region(
            id=int(c),
            name=names[c],
            terms=tuple(terms[c]),
            size=int(sizes[order[c]]),
            x=float(centres[order[c], 0]),
            y=float(centres[order[c], 1]),
        )
        for c in range(len(ids))
    ]
    return RegionMap(regions, labels)


def label_positions(
    regions: list[Region],
    *,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    width_px: int = 700,
    height_px: int = 520,
    font_px: int = 12,
) -> pd.DataFrame:
    """Where to write each region's name on the map so that no two names overlap: largest regions first.

    A name is a box of about ``0.6 × font_px`` pixels per character by ``1.4 × font_px``, centred on
    the region's centre; a name whose box meets one already placed is nudged one line down, then up,
    and dropped if it still meets one. Columns: ``region, name, terms, size, x, y`` (data units).
    """
    sx = (x_range[1] - x_range[0]) / max(width_px, 1) or 1.0
    sy = (y_range[1] - y_range[0]) / max(height_px, 1) or 1.0
    line = 1.4 * font_px * sy
    placed: list[tuple[float, float, float, float]] = []
    rows = []
    for region in sorted(regions, key=lambda r: (-r.size, r.id)):
        if not (np.isfinite(region.x) and np.isfinite(region.y)):
            continue
        half_w, half_h = 0.6 * font_px * len(region.name) * sx / 2, line / 2
        for dy in (0.0, -line, line):
            box = (region.x - half_w, region.x + half_w, region.y + dy - half_h, region.y + dy + half_h)
            if all(box[1] <= b[0] or b[1] <= box[0] or box[3] <= b[2] or b[3] <= box[2] for b in placed):
                placed.append(box)
                rows.append(
                    {
                        "region": region.id,
                        "name": region.name,
                        "terms": ", ".join(region.terms),
                        "size": region.size,
                        "x": region.x,
                        "y": region.y + dy,
                    }
                )
                break
    return pd.DataFrame(rows, columns=["region", "name", "terms", "size", "x", "y"])


def region_name_layer(labels: pd.DataFrame, *, font_px: int = 12):
    """An Altair text layer of region names in map coordinates (:func:`label_positions`), white halo under dark text."""
    import altair as alt

    base = alt.Chart(labels).encode(
        x="x:Q",
        y="y:Q",
        text="name:N",
        tooltip=[
            alt.Tooltip("name:N", title="region"),
            alt.Tooltip("terms:N", title="distinctive words"),
            alt.Tooltip("size:Q", title="real samples", format=","),
        ],
    )
    halo = base.mark_text(fontSize=font_px, fontWeight="bold", stroke="white", strokeWidth=3, opacity=0.9)
    return alt.layer(halo, base.mark_text(fontSize=font_px, fontWeight="bold", color="#1a1a1a"))
