"""Two-dimensional maps of embeddings (UMAP), cached on disk.

The app draws every sample as a point so that a user can see where synthetic data sits against
real data: on top of it, beside it, or piled into a few spots (collapse). :func:`project` turns
an (n, d) embedding matrix into (n, 2) map coordinates with UMAP.

With ``fit_rows`` the map is fitted on those rows only (the real samples) and every other row is
placed into the finished map: the synthetic data is drawn in the geometry of the real data and
cannot bend it, so maps of different synthetic sets are comparable.

Above ``fit_limit`` rows (default :data:`FIT_LIMIT`) UMAP is fitted on a stratified sample of the
rows it would fit on (each stratum, e.g. each set, keeps its share:
:func:`analysis.maps.placement.stratified_fit_mask`) and every other row is placed into that map. Rows
are placed by their nearest fitted neighbours (``placement="knn"``, the default:
:func:`analysis.maps.placement.knn_place`) or by UMAP's own ``transform`` (``placement="transform"``).
On 50,000 demo-like points the k-NN placement agrees with a full fit as well as ``transform``
does and is many times faster (``tests/benchmarks/bench_scale.py --check-placement``; README
"The map of every point"), so a million points get a map in minutes, not hours. Above
:data:`CELLS_ABOVE` placed × fitted pairs (a million rows) the neighbours come from an inverted-file
index of the fitted rows (:func:`place_cells`; 97 % of the exact 10 nearest, the same agreement with
a full fit, several times faster: :mod:`analysis.maps.placement`).

A fit of 10,000 points takes tens of seconds, so each map is stored as
``<cache dir>/projections/<key>.npy`` (an (n, 2) float32 array) where the key is a SHA-256 of
everything the map depends on (:func:`projection_key`). A repeated request is a file read that
does not even import UMAP; :func:`cached_projection` looks without computing. Files are written
atomically; a damaged one is ignored and recomputed. Hashing a million vectors (1.5 GB) and checking
them for NaN takes seconds, so both are done once per read-only array per process (:class:`_Seen`, by
identity while the array lives; the pages' embeddings are read-only): the map page asks for its map
again in a file read. A writeable array is checked and hashed on every call, since it may have changed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import re
import threading
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import CollapseLabError
from analysis.io import atomic_write, bytes_sha256
from analysis.maps.placement import PLACE_K, PROBE, knn_place, nearest_fitted, stratified_fit_mask
from analysis.vectors.embed import SHIPPED_CACHE_DIR, default_cache_dir

__all__ = ["ProjectionError", "project", "projection_key", "cached_projection", "FIT_LIMIT", "PLACEMENTS"]

Progress = Callable[[str, float], None]

MIN_ROWS = 3  # UMAP's spectral layout and neighbour graph need at least this many points
_FORMAT = 2  # part of every key: bump when the computation changes so old maps are not reused (2: exact neighbours)
_LAYOUT_END = 0.95  # fraction reached when the real map is laid out (with rows still to place: 0.8)
#: Rows UMAP is fitted on at most; the others are placed into the fitted map. Above the demo's 13,602
#: rows (its shipped map is fully fitted) and well under a minute to fit on 2 cores.
FIT_LIMIT = 20_000
#: How rows that are not fitted are placed: their k nearest fitted rows, or UMAP's ``transform``.
PLACEMENTS = ("knn", "transform")
#: Above this many (placed rows × fitted rows) the k-NN placement searches an inverted-file index of
#: about sqrt(fitted) cells (:func:`place_cells`) instead of every fitted row: the exact search of 980,000
#: rows among 20,000 is 15 TFLOP (about 2 minutes on 2 idle cores), the index about a seventh of it.
CELLS_ABOVE = 2_000_000_000
#: From this many fitted rows UMAP would find the neighbours with pynndescent's NNDescent (below it, it computes every
#: distance itself); a cosine map is given them exactly instead (:func:`_exact_neighbours`).
_NNDESCENT_FROM = 4096
_SAMPLE_SEED = 0
_CHUNK_ROWS = 65_536  # rows checked for NaN at a time (no full-size boolean temporary)


class ProjectionError(CollapseLabError, ValueError):
    """The embeddings cannot be projected; the message says what is wrong and how to fix it."""


def _validate(
    embeddings: np.ndarray,
    fit_rows: np.ndarray | None,
    n_neighbors: int,
    min_dist: float,
    *,
    strata: np.ndarray | None = None,
    fit_limit: int | None = None,
    placement: str = "knn",
) -> tuple[np.ndarray, np.ndarray | None, int, dict | None]:
    """The embeddings as C-contiguous float32, the mask of the rows UMAP is fitted on (None: all
    rows), the usable n_neighbors and the plan of how the other rows are placed (None: none are)."""
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ProjectionError(
            f"A map needs a 2-D array of embeddings (one row per sample), got shape {array.shape}. "
            "Pass the output of analysis.vectors.embed.embed."
        )
    try:
        array = np.ascontiguousarray(array, dtype=np.float32)
    except (TypeError, ValueError):
        raise ProjectionError(f"Embeddings must be numbers, got dtype {array.dtype}.") from None
    n = len(array)
    if n < MIN_ROWS:
        raise ProjectionError(f"A map needs at least {MIN_ROWS} samples, got {n}. Load more samples.")
    if _SEEN.keys(array) is None:  # a read-only array seen before was checked then
        if not all(np.isfinite(array[start : start + _CHUNK_ROWS]).all() for start in range(0, n, _CHUNK_ROWS)):
            raise ProjectionError("The embeddings contain NaN or infinite values. Re-embed the samples.")
        _SEEN.add(array)
    mask = None
    if fit_rows is not None:
        mask = np.asarray(fit_rows)
        if mask.dtype != np.bool_ or mask.shape != (n,):
            raise ProjectionError(
                f"fit_rows must be a boolean mask with one entry per row ({n}), "
                f"got dtype {mask.dtype} and shape {mask.shape}."
            )
        fitted = int(mask.sum())
        if fitted < MIN_ROWS:
            raise ProjectionError(
                f"The map is fitted on the rows in fit_rows, which needs at least {MIN_ROWS}; "
                f"got {fitted}. Load more samples (real ones, when fitting on the real data)."
            )
        mask = None if fitted == n else np.ascontiguousarray(mask)
    if isinstance(n_neighbors, bool) or int(n_neighbors) != n_neighbors or n_neighbors < 2:
        raise ProjectionError(f"n_neighbors must be an integer of at least 2, got {n_neighbors!r}.")
    if not 0.0 <= min_dist <= 1.0:
        raise ProjectionError(f"min_dist must be between 0 and 1, got {min_dist!r}.")
    if placement not in PLACEMENTS:
        raise ProjectionError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}.")
    if fit_limit is not None and (isinstance(fit_limit, bool) or int(fit_limit) != fit_limit or fit_limit < MIN_ROWS):
        raise ProjectionError(f"fit_limit must be None or an integer of at least {MIN_ROWS}, got {fit_limit!r}.")
    if strata is not None and len(strata) != n:
        raise ProjectionError(f"strata must have one entry per row ({n}), got {len(strata)}.")
    plan: dict[str, Any] | None = None
    pool = np.ones(n, dtype=bool) if mask is None else mask
    if fit_limit is not None and int(pool.sum()) > fit_limit:
        mask = stratified_fit_mask(pool, strata, int(fit_limit), seed=_SAMPLE_SEED)
        plan = {"fit_limit": int(fit_limit), "sample_seed": _SAMPLE_SEED, "stratified": strata is not None}
    if mask is not None:
        plan = {**(plan or {}), "placement": placement}
        if placement == "knn":
            plan.update(k=PLACE_K, cells=place_cells(int(mask.sum()), n - int(mask.sum())))
            if plan["cells"] is not None:
                plan["probe"] = PROBE
    fitted = n if mask is None else int(mask.sum())
    return array, mask, min(int(n_neighbors), fitted - 1), plan


def place_cells(fitted: int, placed: int) -> int | None:
    """Cells of the k-NN placement's index (:func:`analysis.maps.placement.nearest_fitted`) for ``placed`` rows
    among ``fitted`` ones: about sqrt(fitted) above :data:`CELLS_ABOVE` of work, else None (exact)."""
    return max(2, round(fitted**0.5)) if fitted * placed > CELLS_ABOVE else None


def _key(
    array: np.ndarray,
    mask: np.ndarray | None,
    n_neighbors: int,
    min_dist: float,
    metric: str,
    seed: int | None,
    plan: dict | None = None,
) -> str:
    params = {
        "format": _FORMAT,
        "shape": list(array.shape),
        "n_neighbors": n_neighbors,
        "min_dist": float(min_dist),
        "metric": metric,
        "seed": None if seed is None else int(seed),
        "umap": importlib.metadata.version("umap-learn"),  # without importing umap (slow)
    }
    if plan is not None:  # only maps that place rows carry a plan: keys of fully fitted maps are unchanged
        params["plan"] = plan
    # the fit mask is the sample drawn from the plan, so the key holds the rows actually fitted
    head = (json.dumps(params, sort_keys=True).encode(), b"\x00mask:" + (b"all" if mask is None else mask.tobytes()))
    known = _SEEN.keys(array)
    if known is not None and bytes_sha256(*head) in known:
        return known[bytes_sha256(*head)]
    key = bytes_sha256(
        *head,
        b"\x00data:",
        array.data.cast("B"),  # C-contiguous: hashed in place, not copied (1.5 GB at a million rows: about 1 s)
    )
    if known is not None:
        known[bytes_sha256(*head)] = key
    return key


class _Seen:
    """Read-only embedding arrays seen in this process, by identity while they live: their values were
    checked finite, and the map keys computed for them (per parameters and mask), so a page that asks
    for its map again does not hash 1.5 GB of vectors again. Only an array that cannot change is kept:
    it and every array it views are read-only and the memory is its own (or bytes); a writeable array
    is checked and hashed on every call."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, dict[str, str]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _frozen(array: np.ndarray) -> bool:
        base: object = array
        while isinstance(base, np.ndarray):
            if base.flags.writeable:
                return False
            base = base.base
        return base is None or isinstance(base, bytes)

    def keys(self, array: np.ndarray) -> dict[str, str] | None:
        """The keys computed for ``array`` (head digest -> key), or None when it was not seen or is writeable."""
        entry = self._entries.get(id(array))
        if entry is None or entry[0]() is not array or not self._frozen(array):
            return None
        return entry[1]

    def add(self, array: np.ndarray) -> None:
        if not self._frozen(array):
            return
        ident = id(array)
        with self._lock:
            self._entries[ident] = (weakref.ref(array, lambda _ref: self._entries.pop(ident, None)), {})


_SEEN = _Seen()


def projection_key(
    embeddings: np.ndarray,
    *,
    fit_rows: np.ndarray | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    seed: int | None = None,
    strata: np.ndarray | None = None,
    fit_limit: int | None = FIT_LIMIT,
    placement: str = "knn",
) -> str:
    """The cache key of a map: hex SHA-256 of everything the map depends on.

    That is the float32 C-contiguous bytes of ``embeddings`` and its shape, the mask of the rows
    UMAP is fitted on (``fit_rows``, or the stratified sample drawn from them above ``fit_limit``;
    an all-True mask counts as None), the parameters (``n_neighbors`` as reduced for small
    inputs, see :func:`project`), the plan of how the other rows are placed (only when some are:
    a fully fitted map keeps the key it always had) and the installed umap-learn version.

    Raises
    ------
    ProjectionError
        For the same invalid inputs as :func:`project`.
    """
    array, mask, n_neighbors, plan = _validate(
        embeddings, fit_rows, n_neighbors, min_dist, strata=strata, fit_limit=fit_limit, placement=placement
    )
    return _key(array, mask, n_neighbors, min_dist, metric, seed, plan)


def _cache_path(key: str, cache_dir: str | Path | None) -> Path:
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "projections"
    return directory / f"{key}.npy"


def _read_any(key: str, cache_dir: str | Path | None, rows: int) -> np.ndarray | None:
    """The cached map of ``key``: from the cache, else from the maps that ship with the demo."""
    cached = _read(_cache_path(key, cache_dir), rows)
    return cached if cached is not None else _read(SHIPPED_CACHE_DIR / "projections" / f"{key}.npy", rows)


def _read(path: Path, rows: int) -> np.ndarray | None:
    """The cached map at ``path``, or None when it is missing, unreadable or not a map of ``rows`` rows."""
    try:
        with open(path, "rb") as file:
            cached = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if cached.dtype != np.float32 or cached.shape != (rows, 2) or not np.isfinite(cached).all():
        return None
    return cached


def cached_projection(
    embeddings: np.ndarray,
    *,
    fit_rows: np.ndarray | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    seed: int | None = None,
    cache_dir: str | Path | None = None,
    strata: np.ndarray | None = None,
    fit_limit: int | None = FIT_LIMIT,
    placement: str = "knn",
) -> np.ndarray | None:
    """The map :func:`project` would return, if it is cached; None otherwise. Never computes.

    Parameters are those of :func:`project`. Lets a caller say "loading the cached map" rather
    than "fitting the map" before calling :func:`project`.
    """
    array, mask, n_neighbors, plan = _validate(
        embeddings, fit_rows, n_neighbors, min_dist, strata=strata, fit_limit=fit_limit, placement=placement
    )
    return _read_any(_key(array, mask, n_neighbors, min_dist, metric, seed, plan), cache_dir, len(array))


class _EpochStream:
    """A file for UMAP's tqdm epoch bar (``tqdm_kwds``) that turns "done/total" into progress calls.

    Only calls from the thread that started the fit are forwarded (tqdm's monitor thread may
    refresh a bar too). The first epoch of a layout marks the start of that stage. ``report`` must
    not raise (:class:`_Deferred`): tqdm takes its process-wide write lock around this write and
    releases it without a ``finally``, so an exception here (Streamlit stopping a closed tab's run)
    would leave it held and hang every later UMAP fit in the process.
    """

    _COUNTS = re.compile(r"(\d+)/(\d+)")

    def __init__(self, report: Progress, stage: str, start: float, end: float) -> None:
        self.report, self.stage, self.start, self.end = report, stage, start, end
        self.thread = threading.get_ident()
        self.last = -1.0

    def write(self, text: str) -> None:
        match = self._COUNTS.search(text)
        if match is None or threading.get_ident() != self.thread:
            return
        done, total = int(match[1]), int(match[2])
        fraction = self.start + (self.end - self.start) * (done / total if total else 1.0)
        if fraction > self.last:
            self.last = fraction
            self.report(self.stage, fraction)

    def flush(self) -> None:
        pass


class _Deferred:
    """Progress calls that never raise into UMAP: the first exception a call raises is kept (later calls
    are dropped) and :meth:`raise_kept` raises it once the map is written to the cache. A run whose
    caller went away (a closed tab) thus finishes its map for the next visitor, and holds no lock."""

    def __init__(self, report: Progress) -> None:
        self.report = report
        self.kept: BaseException | None = None

    def __call__(self, stage: str, fraction: float) -> None:
        if self.kept is not None:
            return
        try:
            self.report(stage, fraction)
        except BaseException as exc:  # noqa: BLE001 - kept and raised after the fit, outside UMAP's locks
            self.kept = exc

    def raise_kept(self) -> None:
        if self.kept is not None:
            raise self.kept


@functools.cache
def umap_module() -> Any:
    """The ``umap`` package, its compiled functions cached on disk.

    umap-learn compiles its numba functions (``smooth_knn_dist``, ``fast_knn_indices``, the layout epoch, ...)
    without ``cache=True``, so every process that fits a map paid about 13 s of compiling on 2 cores before its
    first layout: each app start, each notebook kernel. Turning numba's own on-disk cache on for them
    (``Dispatcher.enable_caching``, what ``@njit(cache=True)`` does) makes that once per installation: the next
    process loads them in well under a second. numba keys each cached entry by the function's source and the
    CPU it was compiled for, so a cache made on one CPU is never run on another.
    """
    import umap  # here, not at the top: importing umap (numba) takes seconds, a cache hit needs none of it
    import umap.distances
    import umap.layouts
    import umap.sparse
    import umap.umap_
    import umap.utils
    from numba.core.dispatcher import Dispatcher

    for module in (umap.umap_, umap.utils, umap.layouts, umap.distances, umap.sparse):
        for value in vars(module).values():
            if isinstance(value, Dispatcher):
                with contextlib.suppress(RuntimeError):  # no writable place for a cache: compile as before
                    value.enable_caching()
    return umap


def _fit(
    array: np.ndarray,
    mask: np.ndarray | None,
    *,
    n_neighbors: int,
    min_dist: float,
    metric: str,
    seed: int | None,
    report: Progress,
    placement: str = "knn",
) -> np.ndarray:
    """Fit UMAP on the masked rows (all rows without a mask) and place the other rows (``placement``)."""
    report("Finding nearest neighbours", 0.0)
    umap = umap_module()

    layout_end = _LAYOUT_END if mask is None else 0.8
    layout = _EpochStream(report, "Laying out", 0.5, layout_end)
    fitted = array if mask is None else array[mask]
    exact = metric == "cosine" and len(fitted) >= _NNDESCENT_FROM and (mask is None or placement != "transform")
    model = umap.UMAP(
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        n_components=2,
        random_state=seed,
        n_jobs=-1 if seed is None else 1,  # a random_state makes UMAP serial; said here so umap does not warn
        low_memory=True,
        verbose=False,
        tqdm_kwds={"disable": False, "file": layout, "bar_format": "{n}/{total}", "mininterval": 0.2},
        precomputed_knn=_exact_neighbours(fitted, n_neighbors) if exact else (None, None, None),
    )
    with warnings.catch_warnings():
        # small inputs: "n_neighbors is larger than the dataset size", spectral init fallbacks
        warnings.simplefilter("ignore", UserWarning)
        if mask is None:
            return model.fit_transform(array).astype(np.float32)
        coordinates = np.empty((len(array), 2), np.float32)
        coordinates[mask] = model.fit_transform(fitted)
        stage = "Placing the other rows in the real map"
        report(stage, layout_end)
        if placement == "transform":
            model.tqdm_kwds["file"] = _EpochStream(report, stage, layout_end, _LAYOUT_END)
            coordinates[~mask] = model.transform(array[~mask])
        else:
            del model  # its graph and index are not needed to place by neighbours
            rest = np.flatnonzero(~mask)
            span = _LAYOUT_END - layout_end
            coordinates[rest] = knn_place(
                fitted,
                coordinates[mask],
                _Rows(array, rest),
                k=PLACE_K,
                cells=place_cells(len(fitted), len(rest)),
                probe=PROBE,
                progress=lambda done, total: report(stage, layout_end + span * done / max(total, 1)),
            )
    return coordinates


def _exact_neighbours(fitted: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each fitted row's ``k`` nearest fitted rows (itself among them) and their cosine distances, exactly, for UMAP's
    ``precomputed_knn``.

    UMAP finds them with NNDescent from 4,096 rows, and pynndescent compiles its numba functions in every new process
    without numba's disk cache (several of them cannot be cached: they take the distance function as an argument):
    about 25 s on 2 cores before a 10,000-point map, a notebook kernel's or an app's first. The exact search is one
    float32 GEMM per block (:func:`analysis.maps.placement.nearest_fitted`): about 2 s at 10,000 rows on 2 cores
    (growing with the square of the rows), and no neighbour is missed (``tests/benchmarks/bench_project.py``)."""
    indices, similarities = nearest_fitted(fitted, fitted, k)
    return indices, np.maximum(1.0 - similarities, 0.0).astype(np.float32)


class _Rows:
    """``array[rows]`` read block by block (slicing gives a copy of the block only), so a million
    placed rows are never copied out of the embeddings at once."""

    def __init__(self, array: np.ndarray, rows: np.ndarray) -> None:
        self.array, self.rows = array, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, part: slice) -> np.ndarray:
        return self.array[self.rows[part]]


def project(
    embeddings: np.ndarray,
    *,
    fit_rows: np.ndarray | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    seed: int | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    strata: np.ndarray | None = None,
    fit_limit: int | None = FIT_LIMIT,
    placement: str = "knn",
) -> np.ndarray:
    """Project embeddings to 2-D with UMAP: an (n, 2) float32 array, row-aligned with ``embeddings``.

    Parameters
    ----------
    embeddings
        (n, d) numbers, one row per sample, at least 3 rows.
    fit_rows
        Boolean mask of length n: the rows the map is fitted on (at least 3). The other rows are
        placed into the fitted map (see ``placement``) and do not change it ("synthetic in the
        geometry of real"). None (default) fits on all rows.
    n_neighbors
        UMAP's neighbourhood size (at least 2). UMAP needs more fitted rows than neighbours, so
        with k fitted rows it is reduced to ``min(n_neighbors, k - 1)``.
    min_dist
        UMAP's minimum distance between points in the map, 0 to 1.
    metric
        Distance between embeddings (cosine for sentence embeddings).
    seed
        UMAP's ``random_state``: the same inputs and seed give the same map, but UMAP then runs
        on one thread. The default None runs it in parallel and is several times faster
        (10,000 demo embeddings on 2 cores: about 6 s against 34 s seeded, see
        ``tests/benchmarks/bench_project.py``); two fits then differ slightly, and the disk cache
        keeps the first, so the same inputs still show the same map.
    strata
        One value per row (e.g. the set's name): above ``fit_limit`` each value keeps its share
        of the fitted sample. None draws the sample uniformly.
    fit_limit
        Rows UMAP is fitted on at most (default :data:`FIT_LIMIT`, None: no limit). Above it a
        seeded stratified sample is fitted and the other rows are placed.
    placement
        How rows that are not fitted are placed: ``"knn"`` (default), the weighted mean of the
        map positions of their 10 nearest fitted rows (cosine), or ``"transform"``, UMAP's own
        ``transform`` (much slower at scale; see the module docstring).
    cache_dir
        Folder of cached maps, default ``<analysis.vectors.embed.default_cache_dir()>/projections``.
    progress
        Called as ``progress(stage, fraction)`` with fraction from 0 to 1: "Finding nearest
        neighbours" (0), "Laying out" (from 0.5, per epoch), "Placing the other rows in the
        real map" (with ``fit_rows``), then "Done" (1). A cache hit reports only "Done".

    Returns
    -------
    numpy.ndarray
        (n, 2) float32 map coordinates, read from the cache when present, else computed and
        cached.

    Raises
    ------
    ProjectionError
        For input that is not 2-D, has fewer than 3 rows, is not finite, a ``fit_rows`` that is
        not a boolean mask of length n with at least 3 True rows, or invalid parameters.
    """
    report: Progress = progress or (lambda stage, fraction: None)
    array, mask, n_neighbors, plan = _validate(
        embeddings, fit_rows, n_neighbors, min_dist, strata=strata, fit_limit=fit_limit, placement=placement
    )
    key = _key(array, mask, n_neighbors, min_dist, metric, seed, plan)
    path = _cache_path(key, cache_dir)
    coordinates = _read_any(key, cache_dir, len(array))
    if coordinates is None:
        deferred = _Deferred(report)
        coordinates = _fit(
            array,
            mask,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            metric=metric,
            seed=seed,
            report=deferred,
            placement=placement,
        )
        with atomic_write(path) as file:
            np.save(file, coordinates, allow_pickle=False)
        deferred.raise_kept()
    report("Done", 1.0)
    return coordinates
