"""Mixture designer: real share and method weights as sliders, every metric of the mixture updated on each move."""

from dataclasses import replace

import streamlit as st

from analysis.judge.reference import COVERAGE_LABELS, CROSSFIT
from analysis.metrics.catalog import frontier_metrics, tile_metrics
from analysis.metrics.utility import has_labels, tstr
from analysis.mixture import (
    STRATEGIES,
    MixtureSpec,
    baseline_spec,
    export_bytes,
    frontier,
    guardrail,
    protect_gaps,
    protectable_gaps,
    region_occupancy,
    review,
    suggest,
    tail_bins,
)
from analysis.views import charts
from pages._compute import dataset_embeddings, dataset_gaps, mixture_engine
from pages._controls import chart_downloads, table_download, url_state
from pages._shared import plain, user_errors
from pages._workspace import current_dataset, workspace

st.title("Mixture designer")
st.caption(
    "Choose how much real data to keep and how to weight each synthetic set; the mixture's coverage, tails, "
    "diversity and drift against the real data update on every move, next to all-real data of the same size."
)

FRONTIER_METRICS, HEADLINE = frontier_metrics(), tile_metrics()  # from analysis.metrics.catalog


def _set_keep(percent: int) -> None:
    st.session_state["mix_keep"] = percent


samples, manifest = current_dataset(__file__)
samples = samples.reset_index(drop=True)
with user_errors("Designing the mixture"):
    embeddings = dataset_embeddings(samples, manifest["sha256"])
    preview = mixture_engine(samples, embeddings, manifest["sha256"])
    synthetic = preview.set_names[1:]
    available = preview.available()
    holdout = len(preview.holdout_rows)
    default_size = min(holdout, available["real train"])  # mid-range coverage: a size near the holdout's

    # the state lives in the URL: a link opens the same mixture
    state = url_state(
        "mix",
        {
            "size": default_size,
            "real": 70,
            "strategy": "uniform",
            "seed": 0,
            **{f"w:{name}": 100 for name in synthetic},
        },
        limits={
            "size": (preview.k + 1, 10_000_000),
            "real": (0, 100),
            "strategy": STRATEGIES,
            "seed": (0, 2**31 - 1),
            **{f"w:{name}": (0, 100) for name in synthetic},
        },
    )

    with st.sidebar:
        st.subheader("Mixture")
        size = st.number_input("Total size N", preview.k + 1, 10_000_000, step=500, key=state["size"])
        real = st.slider(
            "Real share (%)",
            0,
            100,
            key=state["real"],
            help="Keep at least 20–30 % real data: below that, recursive training loses the tails.",
        )
        st.caption("Weight of each synthetic set (relative)")
        weights = {name: st.slider(plain(name), 0, 100, key=state[f"w:{name}"]) for name in synthetic}
        strategy = st.selectbox(
            "Sampling",
            STRATEGIES,
            key=state["strategy"],
            help="uniform: random rows; dedup: near-copies of real text and repeats removed first; "
            "tail-aware: dedup, then synthetic rows that reach rare real regions first.",
        )
        seed = st.number_input("Seed", 0, 2**31 - 1, key=state["seed"])
        unprotected = MixtureSpec(
            size=int(size),
            real_share=real / 100,
            weights={k: float(v) for k, v in weights.items()},
            strategy=strategy,
            seed=int(seed),
        )
        protect: list[int] = []
        keep, gap_report = 0, None
        if st.toggle(
            "Protect named gaps",
            key="mix_protect_on",
            help="Keep the real data of the regions the synthetic sets miss, in the place of synthetic rows.",
        ):
            gap_report, gap_note = dataset_gaps(samples, embeddings, manifest["sha256"], samples, None, 0)
            offered = (
                protectable_gaps(gap_report, [name for name in synthetic if weights[name] > 0]) if gap_report else {}
            )
            if gap_note:
                st.caption(gap_note)
            elif not offered:
                st.caption("The sets with a weight above 0 miss no named region.")
            protect = st.multiselect(
                "Protect these gaps",
                list(offered),
                format_func=lambda region: offered.get(region, str(region)),  # options are plain text, not markdown
                key="mix_protect",
                help="Named gaps of the synthetic sets with a weight above 0 (Tail coverage names them).",
            )
            if protect and gap_report is not None:  # the least real data that gives each gap its real share
                enough, filled = protect_gaps(preview, unprotected, gap_report, protect)
                fills = bool((filled["mixture share"] >= filled["real share"]).all())
                outcome = "each holds its real share" if fills else "the most this size allows"
                st.button(
                    f"Keep {enough.keep:.0%}: {outcome}",
                    on_click=_set_keep,
                    args=(round(100 * enough.keep),),
                    key="mix_keep_fill",
                    help="The smallest share of the protected regions' real train rows at which each region holds at "
                    "least its real share of the mixture"
                    + ("." if fills else "; at this size none does, so the share that fills the emptiest one best."),
                )
            keep = st.slider(
                "Real data kept inside them (%)",
                0,
                100,
                key="mix_keep",
                help="Share of the real train rows inside the protected regions the mixture keeps (rarest "
                "neighbourhoods first), on top of the real share and in the place of synthetic rows.",
            )
    spec = replace(unprotected, protect=tuple(protect), keep=keep / 100)
    if gap_report is not None:
        preview.use_regions(gap_report.region_of)

    level, reason = guardrail(spec.real_share)
    if level == "alarm":
        st.error(reason, icon=":material/dangerous:")
    elif level == "warning":
        st.warning(reason, icon=":material/warning:")

    if preview.capped:  # above 60,000 candidates or 20,000 holdout samples: say which subsample is mixed and judged
        st.caption(preview.describe())
    counts = preview.counts(spec)
    st.caption(f"{spec.size:,} rows: " + ", ".join(f"{n:,} {plain(name)}" for name, n in counts.items() if n) + ".")
    if spec.size > 2 * holdout:
        st.info(
            f"The mixture is much larger than the real holdout ({holdout:,} samples), so coverage, recall and "
            f"tail coverage approach 100 % for any mixture; compare mixtures near N = {holdout:,} for those, "
            f"and use diversity and drift at the full size.",
            icon=":material/info:",
        )
    if spec.protect and gap_report is not None:
        st.subheader("Protected gaps")
        occupancy = region_occupancy(preview, spec, gap_report)
        st.caption(
            "Each protected region's share of the mixture against real data's share of it (as Tail coverage names "
            "gaps); the small number is the change from the same mixture without protection."
        )
        rows_of = occupancy.to_dict("records")
        for start in range(0, len(rows_of), 4):
            for column, row in zip(st.columns(4), rows_of[start : start + 4]):
                column.metric(
                    plain(row["name"]),
                    f"{100 * row['mixture share']:.1f} %",
                    delta=f"{100 * (row['mixture share'] - row['without protection']):+.1f} pts",
                    help=f"{plain(row['in words'])}. {row['real kept']:,} of the region's {row['real in region']:,} "
                    "real train rows are in the mixture.",
                )
        st.markdown("\n".join(f"- {plain(text)}" for text in occupancy["in words"]))
    table, fired = review(preview, spec)
    st.subheader("Metrics of the mixture")
    st.caption(
        "Against the real holdout"
        + ("" if preview.cover.fold is None else f" (coverage and tail coverage: {COVERAGE_LABELS[CROSSFIT]})")
        + "; the small number is the difference from all-real data of the same size. "
        "Hover a value's help for its definition."
    )
    rows = table.set_index("metric")
    for start in range(0, len(HEADLINE), 4):
        for column, metric in zip(st.columns(4), HEADLINE[start : start + 4]):
            row = rows.loc[metric]
            column.metric(
                metric,
                f"{row.value:.3f}",
                delta=f"{row.value - row.baseline:+.3f}",
                delta_color="normal" if row.direction == "higher" else "inverse",
                help=f"{row.definition} {row.direction.capitalize()} is better.",
            )
            for risk in fired[fired["metric"] == metric].itertuples():
                column.caption(f":orange[**{risk.risk}**]: {risk.message}")
    with st.expander("Every metric"):
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            column_config={
                "value": st.column_config.NumberColumn(format="%.4f"),
                "baseline": st.column_config.NumberColumn("all real", format="%.4f"),
            },
        )

    if st.button(
        "Downstream check: train on the mixture, test on real",
        icon=":material/model_training:",
        key="mix_downstream",
        help="A topic classifier (logistic regression on the embeddings) trained on the mixture and on all-real "
        "data of the same size, scored on the real holdout's labels.",
    ):
        labels = samples["label"]
        if not has_labels(labels):
            st.info("These samples have no labels, so there is no downstream topic task.", icon=":material/info:")
        else:
            holdout_rows = preview.holdout_rows
            check = {
                name: tstr(
                    embeddings[rows],
                    labels.to_numpy()[rows],
                    embeddings[holdout_rows],
                    labels.to_numpy()[holdout_rows],
                    seed=spec.seed,
                )
                for name, rows in (
                    ("mixture", preview.rows(spec)),
                    ("all real", preview.rows(baseline_spec(preview, spec))),
                )
            }
            left, right = st.columns(2)
            for column, metric in zip((left, right), ("accuracy", "macro_f1")):
                mine, ceiling = getattr(check["mixture"], metric), getattr(check["all real"], metric)
                column.metric(
                    f"TSTR {metric.replace('_', '-')}", f"{mine:.3f}", delta=f"{mine - ceiling:+.3f} vs all real"
                )
            lost = check["mixture"].lost_labels
            st.caption(
                ("Topics the mixture never teaches (recall 0): " + ", ".join(map(plain, lost)))
                if len(lost)
                else "Every real topic is recalled at least once."
            )

    bars = charts.tail_coverage_bars(tail_bins(preview, spec))
    st.altair_chart(bars, width="stretch")
    chart_downloads(bars, "mixture-tail-coverage", key="mix_tail_export")

    st.subheader("Frontier")
    st.caption(
        "Each metric as the real share goes from 0 to 100 % with these weights; the dashed line is this mixture, "
        "the shaded bands the guardrails."
    )
    front = frontier(preview, spec)
    chart = charts.frontier_lines(front, FRONTIER_METRICS, current=spec.real_share)
    st.altair_chart(chart)
    chart_downloads(chart, "mixture-frontier", key="mix_frontier_export")
    table_download(front, "mixture-frontier", key="mix_frontier_csv", label="Frontier as CSV")

    st.subheader("Suggest weights")
    st.caption(
        f"Searches method weights and sampling for the best tail coverage at N = {spec.size:,} and at least "
        f"{real} % real (diversity breaks ties)."
    )
    if st.button("Suggest", icon=":material/auto_fix_high:", key="mix_suggest"):
        with st.spinner("Trying weights and strategies…"):
            best, why = suggest(preview, spec.size, spec.real_share, seed=spec.seed)
        st.session_state["mix_suggestion"] = (best.to_dict(), why)
    if suggestion := st.session_state.get("mix_suggestion"):
        best, why = MixtureSpec.from_dict(suggestion[0]), suggestion[1]
        st.info(plain(why), icon=":material/lightbulb:")  # it names the sets

        def apply() -> None:
            st.session_state[state["strategy"]] = best.strategy
            st.session_state[state["real"]] = round(best.real_share * 100)
            top = max(best.weights.values()) or 1.0
            for name in synthetic:
                st.session_state[state[f"w:{name}"]] = round(100 * best.weights.get(name, 0.0) / top)
            st.session_state.pop("mix_suggestion", None)

        st.button("Apply the suggestion", on_click=apply, key="mix_apply")

    st.subheader("Export")
    fmt = st.segmented_control("Format", ["parquet", "csv", "jsonl"], default="parquet", key="mix_format") or "parquet"
    mixture_rows = preview.rows(spec)
    values = dict(zip(table["metric"], table["value"]))
    st.session_state["mixture_design"] = {"dataset": manifest["sha256"], "spec": spec.to_dict(), "metrics": values}
    st.caption(
        f"{len(mixture_rows):,} rows and a manifest (input hash, settings, seed, counts, metrics) that "
        f"rebuilds exactly these rows: `analysis.mixture.rows_from_manifest`."
    )

    def files() -> tuple[str, bytes, bytes]:
        return export_bytes(samples, mixture_rows, spec, fmt, metrics=values)

    with st.form("mix_subset", clear_on_submit=True, border=False):
        kept = st.text_input(
            "Keep this mixture as a named subset",
            placeholder="e.g. 70 % real, tail-aware",
            help="Kept subsets can be picked on the A/B test, Tail coverage and Method comparison pages.",
        )
        if st.form_submit_button("Keep the mixture", icon=":material/bookmark_add:"):
            with user_errors("Keeping the mixture"):
                workspace().save_subset(kept, samples.loc[mixture_rows, "id"].astype(str).tolist())
                st.success(
                    f"Kept {len(mixture_rows):,} rows as subset '{plain(kept.strip())}'.", icon=":material/check:"
                )
    with st.container(horizontal=True):
        st.download_button(
            "Rows", data=lambda: files()[1], file_name=f"mixture.{fmt}", key="mix_rows", icon=":material/download:"
        )
        st.download_button(
            "Manifest",
            data=lambda: files()[2],
            file_name=f"mixture.{fmt}.manifest.json",
            mime="application/json",
            key="mix_manifest",
            icon=":material/download:",
        )
