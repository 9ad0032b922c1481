"""Monitor: a pipeline's synthetic snapshots over time against the same real holdout, with early warnings;
the report."""

import json

import pandas as pd
import streamlit as st

from analysis import monitor
from analysis.judge.compare import cached_compare
from analysis.maps.ledger import ledger_methods, loss_ledger
from analysis.mixture import MixtureSpec, export_bytes
from analysis.views import charts
from analysis.views.report import build_report
from pages._compute import (
    built_mixture_engine,
    dataset_compare,
    dataset_embeddings,
    dataset_gaps,
    dataset_projection,
    mixture_engine,
)
from pages._controls import chart_downloads, table_download
from pages._shared import user_errors
from pages._workspace import current_dataset, workspace


@st.cache_data(show_spinner="Reading what each generation lost (named regions, rare tokens)…", max_entries=4)
def _ledger_warnings(sha256: str, _samples: pd.DataFrame, _embeddings) -> pd.DataFrame:
    """The ledger of loss of every method with two or more generations, as trend warnings (once per dataset)."""
    tables = [
        monitor.ledger_warnings(loss_ledger(_samples, _embeddings, method=method))
        for method in ledger_methods(_samples)
    ]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=monitor.WARNING_COLUMNS)


st.title("Monitor")
st.caption(
    "Each snapshot of a synthetic pipeline (a generation or a dated batch) scored against the same real holdout; "
    "trend rules warn when diversity or entropy falls, the tail is lost, perplexity spikes or the data drifts."
)

samples, manifest = current_dataset(__file__)
samples = samples.reset_index(drop=True)
real = samples[samples["source"] == "real"]
synthetic_sets = samples[samples["source"] == "synthetic"].groupby(["method", "generation"]).size()

with user_errors("Monitoring"):
    embeddings = dataset_embeddings(samples, manifest["sha256"])
    source = (
        st.segmented_control(
            "Snapshots",
            ["generations in this dataset", "saved snapshots"],
            default="generations in this dataset",
            key="monitor_source",
            help="Generations: each method's recursive generations (g1, g2, …) in the current dataset form a series. "
            "Saved: snapshots you added below, kept in the workspace.",
        )
        or "generations in this dataset"
    )
    ws = workspace()
    if source == "generations in this dataset":
        bar = st.progress(0.0, text="Scoring every set against the real holdout (cached on disk)…")
        table = cached_compare(
            samples,
            embeddings,
            with_mauve=False,
            progress=lambda done, total: bar.progress(done / total, text=f"Scored {done} of {total} sets…"),
        )
        bar.empty()
        history = monitor.history_from_table(table)
        multi = history.groupby("series")["snapshot"].nunique()
        history = history[history["series"].isin(multi[multi > 1].index)]
        if history.empty:
            st.info(
                "No method in this dataset has more than one generation. Load recursive generations (Data page, "
                "generation 2, 3, …) or add snapshots under 'saved snapshots'.",
                icon=":material/info:",
            )
    else:
        history = monitor.Monitor(ws.root).history()
        with (
            st.expander("Add a snapshot", icon=":material/add:", expanded=history.empty),
            st.form("monitor_add", border=False),
        ):
            options = [f"{method} g{generation}" for method, generation in synthetic_sets.index]
            chosen = st.selectbox("Synthetic set of the current dataset", options, key="monitor_set")
            name = st.text_input("Snapshot name", placeholder="e.g. 2026-11-25 nightly", key="monitor_name")
            generation = st.number_input(
                "Generation (0: none; the order of adding)", 0, 10_000, 0, key="monitor_generation"
            )
            if st.form_submit_button("Score and add", icon=":material/add_chart:") and chosen:
                method, _, gen = chosen.rpartition(" g")
                rows = samples.index[
                    (samples["method"] == method)
                    & (samples["generation"] == int(gen))
                    & (samples["source"] == "synthetic")
                ].to_numpy()
                with st.spinner("Scoring the snapshot against the real holdout…"):
                    watcher = monitor.Monitor(ws.root, real, real_embeddings=embeddings[real.index.to_numpy()])
                    watcher.add_snapshot(
                        samples.loc[rows],
                        name.strip() or chosen,
                        generation=int(generation) or None,
                        embeddings=embeddings[rows],
                    )
                st.rerun()

    if not history.empty and source == "saved snapshots":
        listed = history.drop_duplicates(["series", "snapshot"]).sort_values("order")
        st.dataframe(
            listed[["series", "snapshot", "generation", "timestamp", "size", "added_at"]],
            hide_index=True,
            width="stretch",
            key="monitor_snapshots",
        )
    if not history.empty:
        fired = monitor.warnings(history)
        limits = monitor.thresholds(history)
        st.subheader("Trends")
        st.caption(
            "Lines: each series per snapshot; grey dashed: real train data of the same size; red dashed: a rule's "
            "limit; triangles: where a rule fired (orange warning, red alarm)."
        )
        chart = charts.trend_chart(history, fired, limits)
        st.altair_chart(chart)
        chart_downloads(chart, "monitor-trends", key="monitor_export")
        st.subheader("Warnings")
        if source == "generations in this dataset":  # and what each generation lost: regions and rare words
            lost = _ledger_warnings(manifest["sha256"], samples, embeddings)
            fired = pd.concat([fired, lost], ignore_index=True) if not lost.empty else fired
        if fired.empty:
            st.success("No trend rule fires.", icon=":material/check:")
        else:
            shown = fired[["series", "snapshot", "severity", "rule", "metric", "message"]]
            st.dataframe(shown, hide_index=True, width="stretch")
            table_download(fired, "monitor-warnings", key="monitor_warnings_csv", label="Warnings as CSV")
        table_download(history, "monitor-history", key="monitor_history_csv", label="History as CSV")

    st.subheader("Report")
    st.caption(
        "One HTML file for a design review: the dataset, the method comparison, tail coverage, these trends and "
        "warnings, the mixture you designed (if any), every metric's definition and the versions; it opens "
        "offline, with every sample text escaped."
    )
    if st.button("Build the report", icon=":material/description:", key="monitor_report"):
        mixture = None
        design = st.session_state.get("mixture_design")
        engine = built_mixture_engine(manifest["sha256"])
        if design and design["dataset"] == manifest["sha256"] and engine is not None:
            spec = MixtureSpec.from_dict(design["spec"])
            rows = engine.rows(spec)
            mixture = json.loads(export_bytes(samples, rows, spec, "parquet", metrics=design["metrics"])[2])
        with st.status("Building the report…", expanded=True) as status:
            # The pages' own cached work, at the Method comparison page's defaults (all samples, the smallest
            # set's size, seed 0, MAUVE on), so a report after that page recomputes none of it.
            st.write("Comparing the sets (read from the cache when Method comparison has run)…")
            table = dataset_compare(samples, embeddings, size=None, seed=0, with_mauve=True)
            st.write("Placing the map and naming the regions each set misses…")
            xy = dataset_projection(
                samples, embeddings, manifest["sha256"], fit_on_real=False, n_neighbors=15, min_dist=0.1, seed=None
            )
            gap_report, _ = dataset_gaps(samples, embeddings, manifest["sha256"], samples, None, 0)
            st.write("Preparing the mixture search (once per dataset)…")
            engine = mixture_engine(samples, embeddings, manifest["sha256"])
            st.write("Tail coverage, charts and writing the page…")
            html = build_report(
                samples,
                embeddings=embeddings,
                compare_table=table,
                gap_report=gap_report,
                xy=xy,
                mixture_engine=engine,
                history=history if not history.empty else None,
                mixture_manifest=mixture,
                title=f"Collapse Lab report: {manifest.get('name', 'dataset')}",
                with_mauve=True,
                coverage=engine.cover.split,
            )
            status.update(label="The report is ready.", state="complete", expanded=False)
        st.session_state["monitor_report_html"] = (manifest["sha256"], html.encode("utf-8"), mixture is not None)
    built = st.session_state.get("monitor_report_html")
    if built and built[0] == manifest["sha256"]:
        st.download_button(
            "Download report.html",
            data=built[1],
            file_name="collapse-lab-report.html",
            mime="text/html",
            key="monitor_report_download",
            icon=":material/download:",
        )
        st.caption(
            f"{len(built[1]) / 1e6:.1f} MB"
            + (", with the mixture you designed." if built[2] else "; design a mixture first to include it.")
        )
