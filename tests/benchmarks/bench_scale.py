"""Benchmark: a million samples on one machine (issue 18): the map of every point, a box selection,
compare and the mixture engine, with their times, the bytes the map sends and the peak memory.

    .venv/bin/python tests/benchmarks/bench_scale.py [--n 1000000] [--skip compare,mixture]
    .venv/bin/python tests/benchmarks/bench_scale.py --check-placement [--n 50000]

The dataset is the demo enlarged to ``--n`` samples in the demo's proportions (about 74 % real):
each sample repeats a demo sample with a numbered suffix on its text and its shipped vector plus
small gaussian noise (renormalised), so nothing is embedded. Steps, each timed on its own:

- ``fit_s`` + ``place_s``: :func:`analysis.maps.project.project` cold (an empty projection cache): UMAP on
  a stratified sample of ``FIT_LIMIT`` rows, then every other row placed (target: <= 300 s together);
- ``regions_s``: the region names of the real points (HDBSCAN + c-TF-IDF on a sample), cold; then cached on disk;
- ``map_warm_s``: the map page opened again, server side: the map read back from the disk cache (its key
  remembered for the read-only vectors), the density image, the region names and the chart (target <= 2 s);
  ``map_memory_s`` is the same with the map already in memory, as a Streamlit rerun finds it, and
  ``map_new_process_s`` the first visit of a new server process (the vectors hashed once, the points table
  built, the regions read from disk); ``fit_cpu_s``/``place_cpu_s`` and the load averages qualify the wall times;
- ``payload_mb``: bytes of the chart spec sent to the browser (image + points), whole map and a
  zoom with points on top (the larger counts; target <= 20);
- ``select_s``: a box over the middle of the map answered over all points: counts per set and the
  first page of the table (target <= 1 s);
- ``compare_s``: :func:`analysis.judge.compare.compare` as the Method comparison page calls it (target <= 300 s);
- ``mixture_precompute_s`` and ``mixture_p95_ms``: :class:`analysis.mixture.MixtureEngine` and the p95
  of 50 random slider moves (targets 300 s and 100 ms);
- ``ab_s``: :func:`analysis.ab.ab_sets` of llm against paraphrase, every metric but MAUVE (no target in issue 18;
  compare's 300 s is the yardstick);
- ``peak_rss_gb``: the process's peak resident memory (target <= 12).

A step that runs past ``--step-limit`` seconds is stopped and reported as ``"timeout"``. The last
line is one JSON object. ``--check-placement`` instead compares, on ``--n`` points (default
50,000), a full UMAP fit with a fit on ``FIT_LIMIT`` rows plus the k-NN placement and plus UMAP's
``transform``: the time of each and, for 2,000 placed points, the share of their 15 nearest
neighbours in the full fit's map that they keep (neighbour agreement) and the trustworthiness
(sklearn) of each map on those points.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.demo import load_demo  # noqa: E402
from analysis.maps import (
    explore,
    mapview,  # noqa: E402
    region_cache,
)
from analysis.maps.project import FIT_LIMIT, project  # noqa: E402
from analysis.maps.region_cache import region_map  # noqa: E402
from analysis.maps.regions import label_positions, region_name_layer  # noqa: E402
from analysis.vectors.embed import embed  # noqa: E402


def enlarge(n: int, *, noise: float = 0.01, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` samples repeating the demo's (texts with a numbered suffix, vectors plus noise), in its proportions."""
    demo = load_demo().reset_index(drop=True)
    base = embed(demo["text"].tolist(), progress=None)  # the shipped vectors: a cache read, no model
    rng = np.random.default_rng(seed)
    source = np.concatenate([np.arange(len(demo)), rng.integers(0, len(demo), max(0, n - len(demo)))])[:n]
    source.sort()
    samples = demo.iloc[source].reset_index(drop=True)
    copy = np.arange(n) - np.searchsorted(source, source)  # 0 for the first copy of each demo sample
    number = pd.Series(copy).astype(str)
    first = copy == 0
    samples["text"] = samples["text"].where(first, samples["text"] + " (copy " + number + ")")
    samples["id"] = samples["id"].astype(str).where(first, samples["id"].astype(str) + "~" + number)
    vectors = np.empty((n, base.shape[1]), np.float32)
    for start in range(0, n, 100_000):  # in blocks: the noise of a million rows at once is 3 GB of float64
        stop = min(n, start + 100_000)
        block = base[source[start:stop]] + rng.normal(0, noise, (stop - start, base.shape[1])).astype(np.float32)
        vectors[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return samples, vectors


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


class StepTimeout(Exception):
    pass


def timed(limit: int, step, *args, **kwargs):
    """``(seconds, result)`` of ``step``, or ``("timeout", None)`` past ``limit`` seconds."""

    def alarm(signum, frame):
        raise StepTimeout

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(limit)
    started = time.perf_counter()
    try:
        result = step(*args, **kwargs)
    except StepTimeout:
        return "timeout", None
    finally:
        signal.alarm(0)
    return round(time.perf_counter() - started, 2), result


def map_page(samples: pd.DataFrame, vectors: np.ndarray, strata, cache: str, memo: dict | None = None, xy=None):
    """What the map page computes on a visit, server side: the map, the points, the region names, the image and
    the chart. ``memo`` holds what the page keeps in memory between visits (its st.cache_resource: the points
    table and the region names); None for the first visit of a server process."""
    memo = {} if memo is None else memo
    if xy is None:
        xy = project(vectors, strata=strata, cache_dir=cache)
    if "points" not in memo:
        memo["points"] = explore.map_points(samples, xy, hover=False)
    points = memo["points"]
    real = (points["source"] == "real").to_numpy()
    if "regions" not in memo:
        texts = samples["text"].to_numpy()[real]
        memo["regions"] = region_map(list(texts), xy[real], texts_key=f"bench {len(samples)}", cache_dir=cache)
    extent = mapview.Extent.of(points["x"].to_numpy(), points["y"].to_numpy())
    colors = mapview.color_key(points["set"], "set")
    png = mapview.density_image(
        points["x"].to_numpy(), points["y"].to_numpy(), points["set"], colors, extent, layer="difference",
        real=real, synthetic=~real,
    )  # fmt: skip
    names = label_positions(memo["regions"].regions, x_range=(extent.x0, extent.x1), y_range=(extent.y0, extent.y1))
    layers = [region_name_layer(names)] if len(names) else None
    chart = mapview.map_chart(png, extent, color_by="set", colors=colors, layers=layers)
    return xy, points, extent, colors, chart


def zoomed_payload(samples: pd.DataFrame, points: pd.DataFrame, extent, colors) -> int:
    """Bytes of the chart zoomed until at most POINT_LIMIT points are inside (drawn with their hover text)."""
    cx, cy = (extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    half_x, half_y = (extent.x1 - extent.x0) / 2, (extent.y1 - extent.y0) / 2
    while True:
        zoom = mapview.Extent(cx - half_x, cx + half_x, cy - half_y, cy + half_y)
        inside = np.flatnonzero(zoom.contains(x, y))
        if len(inside) <= mapview.POINT_LIMIT:
            break
        half_x, half_y = half_x * 0.7, half_y * 0.7
    shown = points.iloc[inside].assign(hover=explore.hover_text(samples["text"].iloc[inside]).to_numpy())
    png = mapview.density_image(x, y, points["set"], colors, zoom)
    chart = mapview.map_chart(png, zoom, color_by="set", colors=colors, points=shown)
    return mapview.payload_bytes(chart)


def map_steps(args, samples: pd.DataFrame, vectors: np.ndarray, strata, result: dict) -> dict | None:
    """The map of every point cold, the map page again, its payload and a box selection; None on a timeout."""
    vectors.setflags(write=False)  # as pages/_shared.dataset_embeddings keeps them: the map key is remembered
    try:
        return _map_steps(args, samples, vectors, strata, result)
    finally:
        vectors.setflags(write=True)


def _map_steps(args, samples: pd.DataFrame, vectors: np.ndarray, strata, result: dict) -> dict | None:
    with tempfile.TemporaryDirectory() as cache:
        stages: dict[str, float] = {}

        cpu: dict[str, float] = {}

        def progress(stage: str, fraction: float) -> None:
            stages.setdefault(stage, time.perf_counter())
            cpu.setdefault(stage, time.process_time())

        result["load_average_before_map"] = round(os.getloadavg()[0], 2)
        started, cpu_started = time.perf_counter(), time.process_time()
        total, xy = timed(args.step_limit, project, vectors, strata=strata, cache_dir=cache, progress=progress)
        if xy is None:
            result["fit_s"] = result["place_s"] = "timeout"
            return None
        placing = "Placing the other rows in the real map"
        place_start = stages.get(placing, time.perf_counter())
        result["fit_s"] = round(place_start - started, 1)
        result["place_s"] = round(total - result["fit_s"], 1)
        # CPU seconds of all the process's threads: wall times on a shared machine are inflated by the load
        result["fit_cpu_s"] = round(cpu.get(placing, time.process_time()) - cpu_started, 1)
        result["place_cpu_s"] = round(time.process_time() - cpu_started - result["fit_cpu_s"], 1)
        result["load_average_after_map"] = round(os.getloadavg()[0], 2)
        print(f"map: fit {result['fit_s']} s, place {result['place_s']} s (CPU {result['fit_cpu_s']} s + "
              f"{result['place_cpu_s']} s; load average {result['load_average_before_map']} -> "
              f"{result['load_average_after_map']})", flush=True)  # fmt: skip

        real = (samples["source"] == "real").to_numpy()
        result["regions_s"], _ = timed(
            args.step_limit, region_map, list(samples["text"].to_numpy()[real]), xy[real],
            texts_key=f"bench {len(samples)}", cache_dir=cache,
        )  # fmt: skip
        print(f"region names: {result['regions_s']} s (cold, then cached beside the map)", flush=True)
        memo: dict = {}
        map_page(samples, vectors, strata, cache, memo)  # a first visit: datashader compiles (numba), once per process
        result["map_warm_s"], (_, points, extent, colors, chart) = timed(
            args.step_limit, map_page, samples, vectors, strata, cache, memo
        )
        result["map_memory_s"], _ = timed(args.step_limit, map_page, samples, vectors, strata, cache, memo, xy)
        # a new server process: the vectors are another array (hashed once for the map's key), nothing in memory
        fresh = vectors.copy()
        fresh.setflags(write=False)
        region_cache._REGIONS.clear()
        result["map_new_process_s"], _ = timed(args.step_limit, map_page, samples, fresh, strata, cache)
        del fresh
        whole = mapview.payload_bytes(chart)
        zoomed = zoomed_payload(samples, points, extent, colors)
        result["payload_mb"] = round(max(whole, zoomed) / 1e6, 3)
        result["payload_whole_map_mb"], result["payload_zoom_with_points_mb"] = (
            round(whole / 1e6, 3),
            round(zoomed / 1e6, 3),
        )
        print(f"map page again: {result['map_warm_s']} s (in memory {result['map_memory_s']} s, new process "
              f"{result['map_new_process_s']} s); payload {result['payload_mb']} MB", flush=True)  # fmt: skip

        box = {
            "x": [extent.x0 + 0.3 * (extent.x1 - extent.x0), extent.x0 + 0.7 * (extent.x1 - extent.x0)],
            "y": [extent.y0 + 0.3 * (extent.y1 - extent.y0), extent.y0 + 0.7 * (extent.y1 - extent.y0)],
        }

        def select(points: pd.DataFrame = points):
            rows = np.flatnonzero(explore.in_box(points, box))
            counts = points["set"].iloc[rows].value_counts()
            page = samples.iloc[rows[:50]][["id", "text", "source", "method", "generation", "label", "split"]]
            return rows, counts, page

        result["select_s"], (rows, _, _) = timed(args.step_limit, select)
        result["select_rows"] = len(rows)
        print(f"box selection: {result['select_s']} s for {len(rows):,} samples", flush=True)
    del xy, points, chart
    return result


def scale(args) -> dict:
    result: dict = {"n": args.n, "cores": os.cpu_count(), "fit_limit": FIT_LIMIT}
    started = time.perf_counter()
    samples, vectors = enlarge(args.n)
    result["build_s"] = round(time.perf_counter() - started, 1)
    strata = explore.set_names(samples)
    real = int((samples["source"] == "real").sum())
    print(f"{len(samples):,} samples ({real:,} real) built in {result['build_s']} s", flush=True)

    if "map" not in args.skip and map_steps(args, samples, vectors, strata, result) is None:
        return result  # the map timed out

    if "compare" not in args.skip:
        from analysis.judge.compare import compare

        result["compare_s"], table = timed(
            args.step_limit, compare, samples, embeddings=vectors, with_mauve=False, with_utility=True
        )
        print(f"compare: {result['compare_s']} s", flush=True)
        result["peak_rss_after_compare_gb"] = round(peak_rss_gb(), 2)
    if "mixture" not in args.skip:
        from analysis.mixture import MixtureEngine, MixtureError, MixtureSpec

        result["mixture_precompute_s"], engine = timed(args.step_limit, MixtureEngine, samples, vectors)
        if engine is not None:
            rng = np.random.default_rng(0)
            sets = [name for name in dict.fromkeys(strata) if name != "real"]
            moves, sizes, refused = [], [], 0
            while len(moves) < 50:
                spec = MixtureSpec(
                    size=int(rng.integers(1_000, 100_001)),
                    real_share=float(rng.random()),
                    weights=dict(zip(sets, rng.dirichlet(np.ones(len(sets))).tolist())),
                )
                try:
                    began = time.perf_counter()
                    engine.metrics(spec)
                    moves.append(time.perf_counter() - began)
                    sizes.append(spec.size)
                except MixtureError:  # more rows than the engine's (capped) candidates hold
                    refused += 1
                    continue
            result["mixture_p95_ms"] = round(float(np.percentile(np.array(moves) * 1e3, 95)), 1)
            result["mixture_pool"], result["mixture_largest_n"] = int(engine.group_sizes.sum()), max(sizes)
            result["mixture_moves_refused"] = refused
            print(engine.describe(), flush=True)
            del engine
        print(
            f"mixture: precompute {result['mixture_precompute_s']} s, p95 {result.get('mixture_p95_ms')} ms", flush=True
        )
    if "ab" not in args.skip:  # the A/B test of two synthetic sets, every metric but MAUVE, 999 rounds
        from analysis.ab import ab_sets

        result["ab_s"], ab = timed(args.step_limit, ab_sets, samples, "llm", "paraphrase", embeddings=vectors)
        if ab is not None:
            result["ab_n"], result["ab_reference_n"] = int(ab.table["n"].max()), ab.settings["reference_n"]
        print(f"A/B test: {result['ab_s']} s", flush=True)
    result["peak_rss_gb"] = round(peak_rss_gb(), 2)
    return result


def check_placement(args) -> dict:
    """Full fit against fit-on-a-sample + k-NN placement and + UMAP transform, on ``--n`` points."""
    from sklearn.manifold import trustworthiness

    samples, vectors = enlarge(args.n, noise=0.03)
    strata = explore.set_names(samples)
    result: dict = {"n": args.n, "fit_limit": FIT_LIMIT}
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as cache:
        project(vectors[:5000], cache_dir=cache)  # numba compiles UMAP, once per process
        maps, seconds = {}, {}
        for name, kwargs in [
            ("full", {"fit_limit": None}),
            ("knn", {"placement": "knn"}),
            ("transform", {"placement": "transform"}),
        ]:
            began = time.perf_counter()
            maps[name] = project(vectors, strata=strata, cache_dir=cache, **kwargs)
            seconds[name] = round(time.perf_counter() - began, 1)
            print(f"{name}: {seconds[name]} s", flush=True)
    from analysis.maps.placement import PROBE, knn_place, nearest_fitted, stratified_fit_mask

    fitted = stratified_fit_mask(np.ones(args.n, bool), np.asarray(strata), FIT_LIMIT)
    # the inverted-file search project uses at a million rows (place_cells), on the same fitted map
    cells = round(int(fitted.sum()) ** 0.5)
    began = time.perf_counter()
    maps["knn_cells"] = maps["knn"].copy()
    maps["knn_cells"][~fitted] = knn_place(vectors[fitted], maps["knn"][fitted], vectors[~fitted], cells=cells)
    seconds["knn_cells_place"] = round(time.perf_counter() - began, 1)
    exact, _ = nearest_fitted(vectors[fitted], vectors[~fitted][:5000])
    found, _ = nearest_fitted(vectors[fitted], vectors[~fitted][:5000], cells=cells, probe=PROBE)
    result["cells"], result["probe"] = cells, PROBE
    result["cells_recall_at_10"] = round(
        float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact, found)])), 4
    )
    probe = rng.choice(np.flatnonzero(~fitted), size=min(2000, int((~fitted).sum())), replace=False)
    result["seconds"] = seconds

    def neighbours(xy: np.ndarray, k: int = 15) -> np.ndarray:
        d = ((xy[probe][:, None, :] - xy[None, :, :]) ** 2).sum(-1)
        d[np.arange(len(probe)), probe] = np.inf
        return np.argpartition(d, k, axis=1)[:, :k]

    full = neighbours(maps["full"])
    for name in ("knn", "knn_cells", "transform"):
        other = neighbours(maps[name])
        result[f"agreement_{name}"] = round(
            float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(full, other)])), 3
        )
    for name, xy in maps.items():
        result[f"trustworthiness_{name}"] = round(
            float(trustworthiness(vectors[probe], xy[probe], n_neighbors=10, metric="cosine")), 3
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--n", type=int, default=None, help="samples (default 1,000,000; 50,000 with --check-placement)"
    )
    parser.add_argument("--skip", default="", help="comma-separated steps to skip: map, compare, mixture, ab")
    parser.add_argument("--step-limit", type=int, default=1200, help="seconds a step may run before it is stopped")
    parser.add_argument("--check-placement", action="store_true")
    args = parser.parse_args()
    args.skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    if args.check_placement:
        args.n = args.n or 50_000
        result = check_placement(args)
    else:
        args.n = args.n or 1_000_000
        result = scale(args)
    targets = {"fit_place_s": 300, "map_warm_s": 2, "payload_mb": 20, "select_s": 1, "compare_s": 300,
               "mixture_precompute_s": 300, "mixture_p95_ms": 100, "peak_rss_gb": 12}  # fmt: skip
    if isinstance(result.get("fit_s"), float) and isinstance(result.get("place_s"), float):
        result["fit_place_s"] = round(result["fit_s"] + result["place_s"], 1)
    result["over_target"] = sorted(
        key for key, target in targets.items() if isinstance(result.get(key), (int, float)) and result[key] > target
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
