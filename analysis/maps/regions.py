"""Named regions of the real data, each named by its most distinctive words (and main labels).

Two ways to draw them, both on the real samples alone:

* :func:`fit_regions` (what named gaps use, :mod:`analysis.maps.gaps`): the user's labels where the real
  samples carry a usable label column (:func:`usable_labels`), else k-means on the real samples'
  unit-length embeddings (cosine geometry), :func:`region_count` regions, seeded. It depends on the
  real samples and the seed only, never on a synthetic set or on a map, so the regions (and a gap
  found today) stay the same when sets are added, removed or regenerated. Synthetic samples are
  placed into them by their nearest real neighbours (:func:`analysis.maps.gaps.place`).
* :func:`find_regions` (regions of one map, :func:`analysis.maps.region_cache.region_map`): density clusters
  (HDBSCAN) of the real samples on a 2-D map. The Embedding map names :func:`fit_regions`' regions
  at their members' centres instead, so its names are the gaps' names. On the demo (10,033 real
  Wikipedia summaries, 12 topic labels) HDBSCAN on the default UMAP map gives clusters that match
  the topics far better than on a PCA reduction of the MiniLM embeddings: adjusted Rand 0.27
  (non-noise points; 0.22 with noise assigned to the nearest cluster), purity 0.55, 19 regions,
  against at best 0.18 ARI and 0.43 purity with 4-5 clusters and 55-70 % noise on 5, 10 or 20 PCA
  dimensions. Leaf selection is used because excess-of-mass collapsed the demo into 2-3 clusters at
  some settings. A map depends on what else it was fitted with, so these names are for reading a
  map, not for comparing sets.

A region's name is its top terms by class-based TF-IDF (c-TF-IDF, Grootendorst 2022, BERTopic):
for term ``t`` and region ``c``, ``tf(t, c) × log(1 + A / f(t))``, with ``tf(t, c)`` the share of
region c's words that are t, ``A`` the mean number of words per region and ``f(t)`` the count of t
across all regions. Words are lower-cased letters (2+) after contraction endings are cut ("don't"
is "don", "we'll" is "we"), minus scikit-learn's English stop-word list and :data:`FRAGMENTS`
("don", "ll", "ve", "isnt"); a word the region uses less than :data:`LIFT` (1.5) times as often as
the other regions do is spread evenly and names nothing. A k-means region's main labels
(:func:`main_labels`) follow its words where the samples have labels: ``"court / judge / law (law,
pets)"``; a label region is named ``"Geography: city / capital / largest"``. No model is downloaded.
Ties break alphabetically; HDBSCAN is deterministic and k-means is seeded, so the same inputs and
seed give the same regions and names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Region",
    "RegionMap",
    "find_regions",
    "fit_regions",
    "region_count",
    "main_labels",
    "usable_labels",
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
#: Endings cut off before words are counted: "don't" is "don" (a fragment), "we'll" is "we" (a stop word).
_CONTRACTION = re.compile(r"(?u)(?<=[^\W\d_])['\u2019](?:t|s|d|m|ll|ve|re)\b", re.IGNORECASE)
#: Word fragments that name nothing: what is left of a contraction written without its apostrophe
#: ("dont", "isnt") or split by a tokenizer ("don", "ll", "ve"), and chat filler.
FRAGMENTS = frozenset(
    [
        "don",
        "doesn",
        "didn",
        "isn",
        "aren",
        "wasn",
        "weren",
        "hasn",
        "haven",
        "hadn",
        "won",
        "wouldn",
        "shouldn",
        "couldn",
        "mustn",
        "needn",
        "mightn",
        "shan",
        "ain",
        "ll",
        "ve",
        "re",
        "em",
        "im",
        "ive",
        "id",
        "youre",
        "youve",
        "youll",
        "theyre",
        "theyve",
        "weve",
        "wed",
        "hes",
        "shes",
        "thats",
        "theres",
        "whats",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "hasnt",
        "havent",
        "hadnt",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "cant",
        "aint",
        "gonna",
        "wanna",
        "gotta",
        "yeah",
        "ok",
        "okay",
        "oh",
        "uh",
        "um",
    ]
)
#: A word names a region only when the region uses it at least this many times as often as the other regions do:
#: a word spread evenly over all regions ("like", "said", "new") names none of them.
LIFT = 1.5
#: Labels shown beside a region's words: those holding at least this share of its real samples (at most two).
LABEL_SHARE = 0.25


@dataclass(frozen=True)
class Region:
    """One named region of the real data: ``x``, ``y`` is its centre on the map (the members' median; NaN
    without a map); ``labels`` its main labels (:func:`main_labels`), empty without a label column."""

    id: int
    name: str
    terms: tuple[str, ...]
    size: int
    x: float
    y: float
    labels: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "terms": list(self.terms),
            "size": self.size,
            "x": None if not np.isfinite(self.x) else float(self.x),
            "y": None if not np.isfinite(self.y) else float(self.y),
            "labels": list(self.labels),
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
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    labels = np.asarray(labels)
    ids = sorted(int(c) for c in np.unique(labels))
    texts = np.asarray([_CONTRACTION.sub("", str(text)) for text in np.asarray(texts, dtype=object)], dtype=object)
    documents = [" ".join(texts[labels == c]) for c in ids]
    try:
        vectorizer = CountVectorizer(
            lowercase=True, stop_words=sorted(ENGLISH_STOP_WORDS | FRAGMENTS), token_pattern=_TOKEN
        )
        counts = vectorizer.fit_transform(documents).astype(np.float64).toarray()
    except ValueError:  # no word at all (only numbers or stop words)
        return {c: [] for c in ids}
    vocabulary = vectorizer.get_feature_names_out()
    words = counts.sum(axis=1, keepdims=True)
    tf = counts / np.maximum(words, 1.0)
    mean_words = float(words.mean())
    weight = np.log1p(mean_words / np.maximum(counts.sum(axis=0), 1.0))
    scores = tf * weight[None, :]
    if len(ids) > 1:  # a word the region uses no more often than the other regions do names nothing (LIFT)
        elsewhere = (counts.sum(axis=0)[None, :] - counts) / np.maximum(words.sum() - words, 1.0)
        scores[tf < LIFT * elsewhere] = 0.0
    out = {}
    alphabetical = np.argsort(vocabulary, kind="stable")
    for i, c in enumerate(ids):
        row = scores[i, alphabetical]
        order = alphabetical[np.argsort(-row, kind="stable")]  # best first; alphabetical among equals
        out[c] = [str(vocabulary[j]) for j in order[:top] if scores[i, j] > 0]
    return out


def main_labels(labels, *, share: float = LABEL_SHARE, most: int = 2) -> tuple[str, ...]:
    """A region's main labels: those holding at least ``share`` of its samples, most first (at most ``most``),
    else its most common label; empty when no sample has a label. Ties break alphabetically."""
    values = pd.Series(np.asarray(labels, dtype=object)).dropna()
    values = values[values.astype(str).str.strip() != ""].astype(str)
    if values.empty:
        return ()
    counts = values.value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    main = [str(label) for label, count in counts.items() if count >= share * len(values)][:most]
    return tuple(main or [str(counts.index[0])])


def _names(terms: dict[int, list[str]], labels: dict[int, tuple[str, ...]] | None = None) -> dict[int, str]:
    """Names of ``NAME_TERMS`` terms, then the main labels in brackets; a name already taken gets more terms,
    then a number."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    labels = labels or {}

    def named(words: list[str], c: int) -> str:
        name = NAME_JOIN.join(words) or f"region {c + 1}"
        return f"{name} ({', '.join(labels[c])})" if labels.get(c) else name

    for c, words in terms.items():
        name = named(words[:NAME_TERMS], c)
        extra = NAME_TERMS
        while name in taken and extra < len(words):
            extra += 1
            name = named(words[:extra], c)
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


#: The fewest and most regions :func:`fit_regions` draws without labels.
MIN_REGIONS, MAX_REGIONS = 2, 16
#: Regions per square root of the real samples (:func:`region_count`).
REGIONS_PER_ROOT = 1 / 3.2


def region_count(n: int) -> int:
    """Regions :func:`fit_regions` draws on ``n`` real samples (without labels): √n / 3.2, rounded, 2 to 16.

    Seven at 500 real samples, ten at 1,000, fourteen at 2,000 and sixteen from 2,500. A region must hold
    enough real data that a synthetic set of a few hundred samples expects several samples in it, or its
    absence cannot be told from chance, and k-means regions mix neighbouring topics, so a region too small
    is a fragment of several. Measured by ``tests/benchmarks/bench_gaps.py --hide-labels`` (topics of at
    least 10 % dropped from a set of 200, named in 20 seeded runs): at 1,000 real, 16 regions (one per 60
    samples, the rule before) named 0.58, 12 named 0.84, 10 named 0.95, 8 named 0.89; at 500 real, 8
    regions named 0.89 and 7 named 0.95, with no false gap of real against real at 7 or 10. Sixteen keeps the
    list of names readable and near the number of topics a corpus of short texts has (the demo: 12 labels).
    """
    return int(np.clip(round(np.sqrt(max(n, 0)) * REGIONS_PER_ROOT), MIN_REGIONS, MAX_REGIONS))


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32; a zero row stays zero), so dot products are cosine similarities."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


#: The labels are the regions when at least this share of the real samples carry one, and there are 2 to
#: :data:`MAX_LABEL_REGIONS` distinct labels (more is an id-like column, not topics).
MIN_LABELLED = 0.8
MAX_LABEL_REGIONS = 30
#: The region of real samples without a label, when the labels are the regions.
NO_LABEL = "(no label)"


def usable_labels(labels) -> bool:
    """Whether a label column is topics the regions can be (:data:`MIN_LABELLED`, :data:`MAX_LABEL_REGIONS`)."""
    if labels is None:
        return False
    values = pd.Series(np.asarray(labels, dtype=object))
    present = values.notna() & (values.astype(str).str.strip() != "")
    distinct = values[present].astype(str).nunique()
    return bool(len(values)) and present.mean() >= MIN_LABELLED and 2 <= distinct <= MAX_LABEL_REGIONS


def fit_regions(
    texts: pd.Series | list[str],
    embeddings: np.ndarray,
    *,
    labels=None,
    xy: np.ndarray | None = None,
    seed: int = 0,
    n_regions: int | None = None,
    by_label: bool | None = None,
) -> RegionMap:
    """Named regions of the real samples: the regions named gaps are measured in.

    Parameters
    ----------
    texts
        The real samples' texts (names come from them).
    embeddings
        (n, d) embeddings of the same samples; only their directions count (cosine).
    labels
        Optional label per sample: each region's main labels (:func:`main_labels`) join its name, and
        where the column is usable (:func:`usable_labels`) the labels are the regions (``by_label``).
    xy
        Optional (n, 2) map coordinates of the same samples: each region's centre on the map is its
        members' median (NaN without a map). The map never changes the regions.
    seed
        Seeds k-means (and the sample it is fitted on above :data:`FIT_AT_MOST` samples).
    n_regions
        How many k-means regions; default :func:`region_count` of n.
    by_label
        True: one region per label (real samples without one form :data:`NO_LABEL`), named
        ``"Geography: city / capital / largest"``; False: k-means; None (default): by label when
        :func:`usable_labels`, else k-means.

    Returns
    -------
    RegionMap
        Regions numbered by falling size (ties by smaller id of first member), each with its name, terms,
        size, centre and main labels; ``labels`` gives each sample's region.

    Notes
    -----
    Without usable labels: k-means (Lloyd, k-means++ start, 4 starts, best inertia kept) on unit-length
    embeddings, so the regions are balls of the cosine geometry the synthetic samples are placed in, each
    named ``"city / capital / largest (Geography)"``. With labels, the user's own topics are the regions:
    on the demo (12 labels) k-means regions are mixtures (purity 0.55), so a synthetic set without a
    topic still fills about half of that topic's regions with neighbouring topics' samples; at 1,000 real
    and 200 synthetic samples the labels as regions named 0.75 of the dropped topics (1.00 of those
    holding at least 10 %) against 0.40 (0.58) with 16 k-means regions, with no false gap either way (10 seeds,
    ``tests/benchmarks/bench_gaps.py``). Nothing outside the real samples enters, so the regions are
    the same whatever synthetic sets are loaded.
    """
    if by_label is None:
        by_label = usable_labels(labels)
    if by_label:
        return _label_regions(texts, embeddings, labels, xy)
    from sklearn.cluster import KMeans

    unit = unit_rows(embeddings)
    n = len(unit)
    if unit.ndim != 2 or n != len(texts):
        raise ValueError(f"embeddings must be an (n, d) array aligned with the {len(texts)} texts, got {unit.shape}")
    if n == 0:
        return RegionMap([], np.zeros(0, dtype=np.int64))
    count = int(n_regions) if n_regions is not None else region_count(n)
    count = max(1, min(count, n))
    fitted = np.arange(n)
    if n > FIT_AT_MOST:
        fitted = np.sort(np.random.default_rng(seed).choice(n, size=FIT_AT_MOST, replace=False))
    if count == 1:
        raw = np.zeros(n, dtype=np.int64)
    else:
        model = KMeans(n_clusters=count, n_init=4, random_state=seed).fit(unit[fitted])
        raw = model.predict(unit).astype(np.int64)
    ids, raw = np.unique(raw, return_inverse=True)
    sizes = np.bincount(raw, minlength=len(ids))
    first = np.array([np.flatnonzero(raw == c)[0] for c in range(len(ids))])
    order = np.lexsort((first, -sizes))  # largest first; then the region whose first member comes first
    renumber = np.empty(len(ids), dtype=np.int64)
    renumber[order] = np.arange(len(ids))
    region_of = renumber[raw]
    named = fitted if len(fitted) < n else slice(None)
    terms = ctfidf_terms(np.asarray(texts, dtype=object)[named], region_of[named])
    terms = {c: terms.get(c, []) for c in range(len(ids))}
    label_values = None if labels is None else np.asarray(labels, dtype=object)
    mains = {c: main_labels(label_values[region_of == c]) if label_values is not None else () for c in terms}
    names = _names(terms, mains)
    xy = None if xy is None else np.asarray(xy, dtype=np.float64)
    regions = []
    for c in range(len(ids)):
        members = region_of == c
        centre = np.median(xy[members], axis=0) if xy is not None else (np.nan, np.nan)
        regions.append(
            Region(
                id=int(c),
                name=names[c],
                terms=tuple(terms[c]),
                size=int(members.sum()),
                x=float(centre[0]),
                y=float(centre[1]),
                labels=mains[c],
            )
        )
    return RegionMap(regions, region_of)


def _label_regions(texts, embeddings, labels, xy) -> RegionMap:
    """One region per label (:func:`fit_regions` with ``by_label``), largest first, ties alphabetical."""
    values = pd.Series(np.asarray(labels, dtype=object))
    present = values.notna() & (values.astype(str).str.strip() != "")
    values = values.astype(str).where(present, NO_LABEL).to_numpy()
    if len(values) != len(texts) or len(np.asarray(embeddings)) != len(texts):
        raise ValueError(f"labels and embeddings must be aligned with the {len(texts)} texts")
    counts = pd.Series(values).value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    number = {label: i for i, label in enumerate(counts.index)}
    region_of = pd.Series(values).map(number).to_numpy(dtype=np.int64)
    named = np.arange(len(values))
    if len(values) > FIT_AT_MOST:  # named from a seeded sample, as the k-means regions are
        named = np.sort(np.random.default_rng(0).choice(len(values), size=FIT_AT_MOST, replace=False))
    terms = ctfidf_terms(np.asarray(texts, dtype=object)[named], region_of[named])
    xy = None if xy is None else np.asarray(xy, dtype=np.float64)
    regions = []
    for label, c in number.items():
        members = region_of == c
        words = terms.get(c, [])
        centre = np.median(xy[members], axis=0) if xy is not None else (np.nan, np.nan)
        regions.append(
            Region(
                id=c,
                name=f"{label}: {NAME_JOIN.join(words[:NAME_TERMS])}" if words else str(label),
                terms=tuple(words),
                size=int(members.sum()),
                x=float(centre[0]),
                y=float(centre[1]),
                labels=(str(label),),
            )
        )
    return RegionMap(regions, region_of)


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
