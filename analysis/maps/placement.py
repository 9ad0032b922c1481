"""Placing points into a finished 2-D map by their nearest fitted neighbours.

A UMAP map of a million points is fitted on a stratified sample (:func:`stratified_fit_mask`,
each set keeps its share) and every other point is placed by :func:`knn_place`: the weighted
mean of the map positions of its ``k`` nearest fitted points in embedding space (cosine), with
weights ``1 / (cosine distance + 1e-3)``, so a point that (nearly) repeats a fitted one lands on
it. The neighbours are found blockwise with one GEMM per block of rows, so memory stays one block
of the similarity matrix whatever the number of points.

With ``cells`` the search is an inverted-file index (:func:`analysis.maps.project.project` uses it above 2 billion
placed × fitted pairs: a million rows among 20,000, not the demo): the fitted
rows are split into about sqrt(fitted) spherical k-means cells (10 rounds, seeded), each query is compared,
exactly, with the rows of the ``probe`` = 16 cells whose centroids are nearest to it, and the k best of those
are kept. On 50,000 demo-like points with 20,000 fitted (141 cells) it finds 97 % of the exact 10 nearest
neighbours, its map agrees with a full UMAP fit as well as the exact search's does (neighbour agreement
0.199 against 0.200, trustworthiness 0.840 against 0.837) and it places 30,000 rows in 8.7 s;
on 100,000 queries it took 6.1 s against 44.2 s for the exact search (2 loaded cores). At a million rows
(980,000 placed among 20,000 fitted) the placement took 79 s wall, 77 CPU-s (``bench_scale.py``, load 3.7-3.9),
and the fit of the 20,000 68 s: 147 s together against the 300 s target.
A PCA-64 candidate search re-ranked exactly was tried first and was no faster: gathering the candidates'
full vectors cost as much as the GEMM it saved. ``tests/benchmarks/bench_scale.py --check-placement``
measures all of this against a full fit and against UMAP's own ``transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = ["stratified_fit_mask", "knn_place", "nearest_fitted", "PLACE_K", "BLOCK_ROWS"]

#: Fitted neighbours whose map positions are averaged.
PLACE_K = 10
#: Rows of queries per block (a block's similarity matrix is BLOCK_ROWS × fitted rows float32).
BLOCK_ROWS = 2048
#: Rows of queries per block with cells (grouped by cell inside the block; a block is BLOCK_ROWS × 384 float32).
CELL_BLOCK_ROWS = 32_768
#: Cells a query's candidates come from (its own and the nearest others).
PROBE = 16
_KMEANS_ROUNDS = 10
_EPS = 1e-3


def stratified_fit_mask(pool: np.ndarray, strata: np.ndarray | None, limit: int, *, seed: int = 0) -> np.ndarray:
    """A boolean mask of at most ``limit`` rows of ``pool`` (a boolean mask), each stratum keeping its share.

    Each stratum (a value of ``strata``; None: one stratum) keeps ``floor(size * limit / total)``
    rows and at least one; the rows are drawn with a seeded generator, so the same inputs give
    the same sample. Returns ``pool`` itself when it holds ``limit`` rows or fewer.
    """
    pool = np.asarray(pool, dtype=bool)
    total = int(pool.sum())
    if total <= limit:
        return pool
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(pool)
    if strata is None:
        codes = np.zeros(len(rows), dtype=np.int64)
    else:
        # the codes np.unique gives (sorted values), by hashing: a million strings in 0.1 s, not seconds
        codes, _ = pd.factorize(np.asarray(strata, dtype=object)[rows], sort=True)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    quota = np.maximum(1, np.floor(sizes * limit / total)).astype(np.int64)
    mask = np.zeros(len(pool), dtype=bool)
    start = 0
    for size, keep in zip(sizes, quota):
        members = rows[order[start : start + size]]
        mask[rng.choice(members, size=min(int(keep), int(size)), replace=False)] = True
        start += size
    return mask


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


def _cells(fitted_unit: np.ndarray, cells: int, seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray]:
    """Spherical k-means of the fitted rows into ``cells`` cells: the unit centroids (a torch tensor), the
    fitted rows ordered by cell, and where each cell's rows start in that order (``cells + 1`` offsets)."""
    import torch

    rows = torch.from_numpy(fitted_unit)
    rng = np.random.default_rng(seed)
    centroids = torch.from_numpy(fitted_unit[np.sort(rng.choice(len(fitted_unit), cells, replace=False))].copy())
    for _ in range(_KMEANS_ROUNDS):
        assign = torch.argmax(rows @ centroids.T, dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, rows)
        norms = sums.norm(dim=1, keepdim=True)
        centroids = torch.where(norms > 0, sums / norms.clamp_min(1e-12), centroids)  # an empty cell stays put
    final = torch.argmax(rows @ centroids.T, dim=1).numpy()
    order = np.argsort(final, kind="stable")
    return centroids, order, np.searchsorted(final[order], np.arange(cells + 1))


def nearest_fitted(
    fitted: np.ndarray,
    queries: np.ndarray | RowBlocks,
    k: int = PLACE_K,
    *,
    cells: int | None = None,
    probe: int = PROBE,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` fitted rows nearest (cosine) to each query: (indices, similarities), best first.

    Exact by default (one float32 GEMM per block of ``BLOCK_ROWS`` queries, then ``torch.topk``).
    With ``cells`` (more than 1, fewer than the fitted rows) the fitted rows are split into that
    many spherical k-means cells and each query is compared, exactly, with the fitted rows of the
    ``probe`` cells whose centroids are nearest to it (an inverted-file index, see the module
    docstring); a slot a cell too small to fill is left out. ``progress(done, total)`` is called
    after each block. The cell search runs on one torch intra-op thread (restored afterwards): its
    operations are small, and on 2 loaded cores two threads spent more time waiting on each other
    than computing (2.5x slower, wall and CPU).
    """
    import torch

    threads = torch.get_num_threads()
    if cells is not None and 1 < cells < len(fitted):
        torch.set_num_threads(1)
    try:
        return _nearest(fitted, queries, k, cells=cells, probe=probe, progress=progress)
    finally:
        torch.set_num_threads(threads)


def _nearest(
    fitted: np.ndarray,
    queries: np.ndarray | RowBlocks,
    k: int,
    *,
    cells: int | None,
    probe: int,
    progress: Callable[[int, int], object] | None,
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    fitted_unit = _unit(fitted)
    k = min(int(k), len(fitted_unit))
    n = len(queries)
    indices = np.empty((n, k), dtype=np.int64)
    similarities = np.empty((n, k), dtype=np.float32)
    search = torch.from_numpy(fitted_unit)
    ivf = cells is not None and 1 < cells < len(fitted_unit)
    if cells is not None and ivf:
        centroids, by_cell, offsets = _cells(fitted_unit, int(cells))
        search = torch.from_numpy(fitted_unit[by_cell])  # each cell's rows contiguous: a slice, not a gather
        probe = min(int(probe), int(cells))
    step = CELL_BLOCK_ROWS if ivf else BLOCK_ROWS
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = torch.from_numpy(_unit(queries[start:stop]))
        if not ivf:
            top_values, top_index = torch.topk(block @ search.T, k, dim=1)
            indices[start:stop] = top_index.numpy()
            similarities[start:stop] = top_values.numpy()
        else:
            near = torch.topk(block @ centroids.T, probe, dim=1).indices.numpy().ravel()  # (rows * probe)
            values = np.full((stop - start, probe, k), -np.inf, np.float32)
            found = np.zeros((stop - start, probe, k), np.int64)
            order = np.argsort(near, kind="stable")
            bounds = np.searchsorted(near[order], np.arange(len(offsets)))
            for cell in range(len(offsets) - 1):
                low, high = int(offsets[cell]), int(offsets[cell + 1])
                slots = order[bounds[cell] : bounds[cell + 1]]
                if len(slots) == 0 or high == low:
                    continue
                rows, slot = slots // probe, slots % probe
                top_values, top_index = torch.topk(block[rows] @ search[low:high].T, min(k, high - low), dim=1)
                values[rows, slot, : top_index.shape[1]] = top_values.numpy()
                found[rows, slot, : top_index.shape[1]] = low + top_index.numpy()
            merged = torch.topk(torch.from_numpy(values.reshape(stop - start, -1)), k, dim=1)
            positions = np.take_along_axis(found.reshape(stop - start, -1), merged.indices.numpy(), axis=1)
            best = merged.values.numpy()
            short = np.flatnonzero(~np.isfinite(best[:, -1]))  # fewer than k candidates: search all rows
            if len(short):
                exact = torch.topk(block[short] @ search.T, k, dim=1)
                best[short], positions[short] = exact.values.numpy(), exact.indices.numpy()
            indices[start:stop] = by_cell[positions]  # positions among the rows ordered by cell
            similarities[start:stop] = best
        if progress is not None:
            progress(stop, n)
    return indices, similarities


class RowBlocks(Protocol):
    """Rows read block by block: ``len()`` and slices giving arrays (an array, or a view of some of its rows)."""

    def __len__(self) -> int: ...

    def __getitem__(self, part: slice) -> np.ndarray: ...


def knn_place(
    fitted_vectors: np.ndarray,
    fitted_xy: np.ndarray,
    vectors: np.ndarray | RowBlocks,
    *,
    k: int = PLACE_K,
    cells: int | None = None,
    probe: int = PROBE,
    progress: Callable[[int, int], object] | None = None,
) -> np.ndarray:
    """Map positions (n, 2) float32 for ``vectors``: the weighted mean of the positions of their k nearest fitted rows.

    Parameters
    ----------
    fitted_vectors, fitted_xy
        The rows UMAP was fitted on, in embedding space and on the map (row-aligned).
    vectors
        The rows to place, in the same embedding space.
    k
        Fitted neighbours averaged (reduced to the number of fitted rows).
    cells, probe
        None: exact cosine k-NN. An integer: the fitted rows are split into that many cells and
        each row is compared with those of the ``probe`` cells nearest its own (:func:`nearest_fitted`).
    """
    fitted_xy = np.asarray(fitted_xy, dtype=np.float32)
    if len(vectors) == 0:
        return np.zeros((0, 2), np.float32)
    indices, similarities = nearest_fitted(fitted_vectors, vectors, k, cells=cells, probe=probe, progress=progress)
    weights = 1.0 / (np.maximum(1.0 - similarities, 0.0) + _EPS)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", weights, fitted_xy[indices]).astype(np.float32)
