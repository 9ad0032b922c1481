"""Writing a mixture out, and finding its rows again: the rows file, its manifest, the table's hash.

:func:`export_mixture` writes the mixture's rows (CSV, JSONL or Parquet) and a JSON manifest beside
them (the spec, counts, guardrail, metrics, row ids, input and file hashes), both atomically;
:func:`export_bytes` does the same into memory for a download; :func:`rows_from_manifest` turns a
manifest back into row positions, refusing a sample table other than the one it was drawn from
(:func:`samples_sha256`).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.corpus import write_samples
from analysis.io import atomic_write_bytes, file_sha256
from analysis.judge.compare import BASELINE
from analysis.mixture.spec import MixtureError, MixtureSpec, guardrail

__all__ = ["export_mixture", "export_bytes", "rows_from_manifest", "samples_sha256", "MANIFEST_VERSION"]

#: Version of the manifest's layout, recorded in every manifest as ``manifest_version``.
MANIFEST_VERSION = 1


_HASH_COLUMNS = ["id", "text", "source", "method", "generation", "label", "split"]


def samples_sha256(samples: pd.DataFrame) -> str:
    """SHA-256 of the sample table's data-model columns, row by row in order (stable across pandas versions)."""
    digest = hashlib.sha256()
    columns = [c for c in _HASH_COLUMNS if c in samples.columns]
    for row in samples[columns].itertuples(index=False, name=None):
        digest.update(
            json.dumps(
                [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in row],
                ensure_ascii=False,
            ).encode("utf-8")
        )
        digest.update(b"\n")
    return digest.hexdigest()


def _package_version() -> str:
    try:
        import importlib.metadata

        return importlib.metadata.version("collapse-lab")
    except Exception:  # not installed: the source tree's version
        from analysis import __version__

        return __version__


def export_mixture(
    samples: pd.DataFrame,
    rows: np.ndarray,
    spec: MixtureSpec,
    path: str | Path,
    format: str | None = None,
    *,
    metrics: dict[str, float] | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the mixture's rows and ``<path>.manifest.json``, both atomically; return the manifest.

    Parameters
    ----------
    samples
        The sample table the rows index (positions, as
        :func:`analysis.mixture.engine.sample_mixture` returns them).
    rows, spec
        The mixture's rows and the spec that drew them.
    path
        The rows file; its extension is the format unless ``format`` says otherwise.
    format
        ``"csv"``, ``"jsonl"`` or ``"parquet"``; default from the extension of ``path``.
    metrics
        The mixture's metric values (for example
        :meth:`analysis.mixture.engine.MixtureEngine.metrics`), recorded as they are.
    inputs
        Extra facts about the inputs (file names and their hashes), recorded under ``inputs``.

    Returns
    -------
    dict
        The manifest: ``inputs`` (``samples_sha256`` of the whole table and its row count),
        ``spec``, ``counts`` per source, method and set, ``rows`` (count and the ids in order),
        ``metrics``, ``file`` and its ``sha256``, ``package_version``. :func:`rows_from_manifest`
        rebuilds the rows from it.
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    format = (format or suffix).lower()
    if format not in ("csv", "jsonl", "parquet"):
        raise MixtureError(f"Cannot write the mixture as {format!r}: use csv, jsonl or parquet.")
    if suffix != format:
        path = path.with_name(path.name + "." + format)
    samples = samples.reset_index(drop=True)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(samples)):
        raise MixtureError("The mixture's rows do not belong to this sample table: draw them again.")
    mixture = samples.iloc[rows].reset_index(drop=True)
    write_samples(mixture, path)
    set_names = [
        BASELINE if s == "real" else (m if int(g) <= 1 else f"{m} g{int(g)}")
        for s, m, g in zip(mixture["source"], mixture["method"], mixture["generation"])
    ]
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "package": "collapse-lab",
        "package_version": _package_version(),
        "inputs": {"samples_sha256": samples_sha256(samples), "samples": len(samples), **(inputs or {})},
        "spec": spec.to_dict(),
        "counts": {
            "source": {str(k): int(v) for k, v in mixture["source"].value_counts().sort_index().items()},
            "method": {str(k): int(v) for k, v in mixture["method"].value_counts().sort_index().items()},
            "set": {str(k): int(v) for k, v in pd.Series(set_names).value_counts().sort_index().items()},
        },
        "guardrail": dict(zip(("level", "reason"), guardrail(spec.real_share))),
        "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in (metrics or {}).items()},
        "rows": {"count": len(mixture), "ids": mixture["id"].astype(str).tolist()},
        "file": path.name,
        "format": format,
        "sha256": file_sha256(path),
    }
    atomic_write_bytes(
        path.with_name(path.name + ".manifest.json"), json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
    )
    return manifest


def rows_from_manifest(samples: pd.DataFrame, manifest: dict[str, Any] | str | Path) -> np.ndarray:
    """The positions in ``samples`` of a manifest's rows, in the order they were written.

    ``manifest`` is the dict :func:`export_mixture` returned, or the path of its ``.manifest.json``.
    Raises :class:`MixtureError` when ``samples`` is not the table the mixture was drawn from
    (its :func:`samples_sha256` differs) or when the manifest is damaged.
    """
    data: Any = manifest
    if not isinstance(manifest, dict):
        try:
            data = json.loads(Path(manifest).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MixtureError(f"Cannot read the mixture manifest {manifest}: {exc}.") from None
    try:
        expected, ids = data["inputs"]["samples_sha256"], data["rows"]["ids"]
    except (KeyError, TypeError):
        raise MixtureError(
            "The mixture manifest lacks inputs.samples_sha256 or rows.ids: it is damaged or not a mixture manifest."
        ) from None
    samples = samples.reset_index(drop=True)
    actual = samples_sha256(samples)
    if actual != expected:
        raise MixtureError(
            f"These samples are not the ones the mixture was drawn from (sha256 {actual[:12]}… vs {expected[:12]}… in "
            f"the manifest). Load the same files, with the same holdout share, in the same order."
        )
    position = pd.Series(np.arange(len(samples)), index=samples["id"].astype(str))
    missing = [i for i in ids if i not in position.index]
    if missing:
        raise MixtureError(f"{len(missing)} ids of the manifest are not in the samples (first: {missing[0]!r}).")
    return position.loc[ids].to_numpy()


def export_bytes(
    samples: pd.DataFrame,
    rows: np.ndarray,
    spec: MixtureSpec,
    format: str,
    *,
    metrics: dict[str, float] | None = None,
    name: str = "mixture",
) -> tuple[str, bytes, bytes]:
    """:func:`export_mixture` into memory: ``(file name, rows file bytes, manifest bytes)`` for a download."""
    with tempfile.TemporaryDirectory() as folder:
        manifest = export_mixture(samples, rows, spec, Path(folder) / f"{name}.{format}", format, metrics=metrics)
        path = Path(folder) / manifest["file"]
        return manifest["file"], path.read_bytes(), path.with_name(path.name + ".manifest.json").read_bytes()
