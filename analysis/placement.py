"""Placing points into a finished 2-D map by their nearest fitted neighbours.

A UMAP map of a million points is fitted on a stratified sample (:func:`stratified_fit_mask`,
each set keeps its share) and every other point is placed by :func:`knn_place`: the weighted
mean of the map positions of its ``k`` nearest fitted points in embedding space (cosine), with
weights ``1 / (cosine distance + 1e-3)``, so a point that (nearly) repeats a fitted one lands on
it. The neighbours are found blockwise with one GEMM per block of rows, so memory stays one block
of the similarity matrix whatever the number of points.

With ``search_dims`` the candidates are first found in the leading principal components of the
fitted points (``4 k`` per row) and then re-ranked by the exact cosine in the full space; the
search is several times cheaper and the re-ranking keeps the neighbours that matter.
``tests/benchmarks/bench_scale.py --check-placement`` measures the neighbour agreement of both
against a full UMAP fit and against UMAP's own ``transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

__all__ = ["stratified_fit_mask", "knn_place", "nearest_fitted", "PLACE_K", "BLOCK_ROWS"]

#: Fitted neighbours whose map positions are averaged.
PLACE_K = 10
#: Rows of queries per block (a block's similarity matrix is BLOCK_ROWS × fitted rows float32).
BLOCK_ROWS = 2048
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
        _, codes = np.unique(np.asarray(strata)[rows], return_inverse=True)
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


def nearest_fitted(
    fitted: np.ndarray,
    queries: np.ndarray | RowBlocks,
    k: int = PLACE_K,
    *,
    search_dims: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` fitted rows nearest (cosine) to each query: (indices, similarities), best first.

    Exact by default (one float32 GEMM per block of ``BLOCK_ROWS`` queries, then ``torch.topk``).
    With ``search_dims`` the candidates (``4 k`` per row) come from the fitted rows' leading
    principal components and are re-ranked by the exact cosine (see the module docstring).
    ``progress(done, total)`` is called after each block.
    """
    import torch

    fitted_unit = _unit(fitted)
    k = min(int(k), len(fitted_unit))
    n = len(queries)
    indices = np.empty((n, k), dtype=np.int64)
    similarities = np.empty((n, k), dtype=np.float32)
    basis = None
    candidates = k
    if search_dims is not None and search_dims < fitted_unit.shape[1]:
        centre = fitted_unit.mean(axis=0)
        _, _, vt = np.linalg.svd(fitted_unit - centre, full_matrices=False)
        basis = np.ascontiguousarray(vt[:search_dims].T)  # (d, search_dims)
        search = torch.from_numpy(np.ascontiguousarray(fitted_unit @ basis))
        candidates = min(4 * k, len(fitted_unit))
    else:
        search = torch.from_numpy(fitted_unit)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(n, start + BLOCK_ROWS)
        block = _unit(queries[start:stop])
        if basis is None:
            scores = torch.from_numpy(block) @ search.T
            top_values, top_index = torch.topk(scores, k, dim=1)
            indices[start:stop] = top_index.numpy()
            similarities[start:stop] = top_values.numpy()
        else:
            # PCA scores of the unit rows: an inner product in the subspace (the centre shifts every
            # candidate of a row by the same amount, so it does not change their order).
            scores = torch.from_numpy(np.ascontiguousarray(block @ basis)) @ search.T
            cand = torch.topk(scores, candidates, dim=1).indices.numpy()
            exact = np.einsum("rd,rcd->rc", block, fitted_unit[cand])
            best = np.argsort(-exact, axis=1, kind="stable")[:, :k]
            indices[start:stop] = np.take_along_axis(cand, best, axis=1)
            similarities[start:stop] = np.take_along_axis(exact, best, axis=1)
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
    search_dims: int | None = None,
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
    search_dims
        None: exact cosine k-NN. An integer: candidates from that many principal components,
        re-ranked exactly (several times faster on 384-d sentence embeddings).
    """
    fitted_xy = np.asarray(fitted_xy, dtype=np.float32)
    if len(vectors) == 0:
        return np.zeros((0, 2), np.float32)
    indices, similarities = nearest_fitted(fitted_vectors, vectors, k, search_dims=search_dims, progress=progress)
    weights = 1.0 / (np.maximum(1.0 - similarities, 0.0) + _EPS)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", weights, fitted_xy[indices]).astype(np.float32)
