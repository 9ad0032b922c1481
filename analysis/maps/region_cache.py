"""The regions of the real data, kept in memory and on disk per content, so every page, the command line and the
report name the same regions and no synthetic set changes them: :func:`real_regions` (fitted on the real samples'
embeddings, :func:`analysis.maps.regions.fit_regions`) and :func:`region_map` (named regions of one 2-D map,
:func:`analysis.maps.regions.find_regions`). Named gaps (:mod:`analysis.maps.gaps`) are measured in the first.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.io import atomic_write, bytes_sha256, values_bytes
from analysis.maps.regions import FIT_AT_MOST, Region, RegionMap, find_regions, fit_regions, unit_rows
from analysis.vectors.embed import default_cache_dir

__all__ = ["real_regions", "region_map"]


_REAL_REGIONS: OrderedDict[str, RegionMap] = OrderedDict()
_REAL_REGIONS_FORMAT = 2  # part of every key: bump when fit_regions changes


def real_regions(
    texts,
    embeddings: np.ndarray,
    *,
    labels=None,
    xy: np.ndarray | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    by_label: bool | None = None,
) -> RegionMap:
    """:func:`analysis.maps.regions.fit_regions` of the real samples, kept in memory and on disk per content.

    The key is a SHA-256 of the embeddings, texts, labels and seed (never a map: ``xy`` only places each
    region's centre), so every page, the CLI and the report name the same regions, and a synthetic set
    never changes them. Stored as ``<cache_dir>/real-<key>.npz`` (default
    ``<analysis.vectors.embed.default_cache_dir()>/regions``).
    """
    unit = np.ascontiguousarray(unit_rows(embeddings))
    texts = [str(text) for text in texts]
    label_key = "" if labels is None else "\x1f".join("" if pd.isna(v) else str(v) for v in labels)
    key = bytes_sha256(
        f"real regions {_REAL_REGIONS_FORMAT} {FIT_AT_MOST} seed:{seed} by_label:{by_label}".encode(),
        unit.data.cast("B"),
        "\x1e".join(texts).encode(),
        label_key.encode(),
    )
    found = _REAL_REGIONS.get(key)
    if found is None:
        path = (Path(cache_dir) if cache_dir is not None else default_cache_dir() / "regions") / f"real-{key}.npz"
        found = _read_regions(path, len(unit))
        if found is None:
            found = fit_regions(texts, unit, labels=labels, seed=seed, by_label=by_label)
            try:
                with atomic_write(path) as file:
                    listed = json.dumps([region.to_dict() for region in found.regions])
                    np.savez(file, labels=found.labels.astype(np.int32), regions=np.array(listed))
            except OSError:  # a read-only cache: the regions still come back
                pass
        _REAL_REGIONS[key] = found
        while len(_REAL_REGIONS) > 4:
            _REAL_REGIONS.popitem(last=False)
    else:
        _REAL_REGIONS.move_to_end(key)
    if xy is None:
        return found
    xy = np.asarray(xy, dtype=np.float64)
    regions = []
    for region in found.regions:
        members = found.labels == region.id
        centre = np.median(xy[members], axis=0) if members.any() else (np.nan, np.nan)
        regions.append(
            Region(region.id, region.name, region.terms, region.size, float(centre[0]), float(centre[1]), region.labels)
        )
    return RegionMap(regions, found.labels)


_REGIONS: OrderedDict[str, RegionMap] = OrderedDict()  # per content key, the last few datasets' regions
_REGIONS_FORMAT = 2  # part of every regions key: bump when find_regions changes


def region_map(
    texts: list[str],
    xy: np.ndarray,
    *,
    seed: int = 0,
    texts_key: str | None = None,
    cache_dir: str | Path | None = None,
) -> RegionMap:
    """:func:`analysis.maps.regions.find_regions`, kept in memory and on disk per content (texts, map, seed).

    The key is a SHA-256 of the texts (or ``texts_key``), the map coordinates and the seed; the regions are
    stored as ``<cache_dir>/<key>.npz`` (default ``<analysis.vectors.embed.default_cache_dir()>/regions``), beside
    the maps, so a map opened again (even by a new server process) is named in a file read.
    ``texts_key`` is a string that identifies the texts, such as the dataset's checksum and which of its
    rows they are: hashing 735,000 texts takes seconds, and the pages pass it so that no visit does.
    """
    xy = np.ascontiguousarray(xy, dtype=np.float32)
    if texts_key is None:
        texts_key = bytes_sha256(values_bytes(pd.Series(texts, dtype=object)))
    key = bytes_sha256(
        f"regions {_REGIONS_FORMAT} {FIT_AT_MOST} texts:{texts_key}".encode(),
        b"\x00xy:",
        xy.data.cast("B"),
        f"\x00seed:{seed}".encode(),
    )
    if key in _REGIONS:
        _REGIONS.move_to_end(key)
        return _REGIONS[key]
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir() / "regions") / f"{key}.npz"
    found = _read_regions(path, len(xy))
    if found is None:
        found = find_regions(texts, xy, seed=seed)
        with atomic_write(path) as file:
            regions = json.dumps([region.to_dict() for region in found.regions])
            np.savez(file, labels=found.labels.astype(np.int32), regions=np.array(regions))
    _REGIONS[key] = found
    while len(_REGIONS) > 4:
        _REGIONS.popitem(last=False)
    return found


def _read_regions(path: Path, rows: int) -> RegionMap | None:
    """The regions stored at ``path``, or None when missing, unreadable or not of ``rows`` rows."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            labels, listed = stored["labels"].astype(np.int64), json.loads(str(stored["regions"]))
        regions = [
            Region(
                id=int(item["id"]),
                name=str(item["name"]),
                terms=tuple(str(term) for term in item["terms"]),
                size=int(item["size"]),
                x=float("nan") if item["x"] is None else float(item["x"]),
                y=float("nan") if item["y"] is None else float(item["y"]),
                labels=tuple(str(label) for label in item.get("labels", [])),
            )
            for item in listed
        ]
    except (OSError, ValueError, KeyError, TypeError, EOFError, AttributeError):
        return None
    if labels.shape != (rows,) or (rows and (labels.min() < 0 or labels.max() >= len(regions))):
        return None
    return RegionMap(regions, labels)
