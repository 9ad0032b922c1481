"""Method comparison: every metric for every synthetic set (and generation) against the real holdout."""

import streamlit as st

from analysis.judge.compare import BASELINE, generation_table
from analysis.judge.risks import risks
from analysis.metrics.catalog import FAMILIES, compare_metrics, values_by_set
from analysis.views import charts
from analysis.views.review import Recommendation, ReviewSummary, gap_sentence, recommend_mixture, review_summary
from pages._compute import dataset_compare, dataset_embeddings, dataset_gaps, mixture_engine
from pages._controls import chart_downloads, set_controls, table_download
from pages._shared import plain, user_errors
from pages._workspace import current_dataset

METRICS = {metric.name: metric for metric in compare_metrics()}  # compare's metrics, from the catalogue

st.title("Method comparison")
st.caption(
    "Diversity, fidelity, coverage, tails, novelty, drift and model health of each set, measured against the real "
    "holdout at equal size, with real train data as the baseline (coverage and tails by every real sample, "
    "cross-fitted, unless the Data page chose the holdout); the collapse risks are rules on these numbers."
)


@st.cache_data(show_spinner="Searching for the mixture to recommend…", max_entries=4)
def _recommendation(
    sha256: str, coverage: str, _samples, _embeddings, _engine, _gaps
) -> tuple[Recommendation | None, str]:
    return recommend_mixture(_samples, _embeddings, engine=_engine, gaps=_gaps)


_VERDICT_COLOURS = {"ok": "green", "warning": "orange", "alarm": "red"}


def _at_a_glance(review: ReviewSummary) -> None:
    """The review summary (analysis.views.review): verdict per set in words, its top gaps, the recommended mixture."""
    with st.container(border=True):
        st.subheader("At a glance")
        flagged = sum(v.verdict != "ok" for v in review.verdicts)
        st.markdown(
            f"Overall: **:{_VERDICT_COLOURS.get(review.overall, 'gray')}[{review.overall}]**: {flagged} of "
            f"{len(review.verdicts)} synthetic sets fire a collapse-risk rule (details below)."
        )
        left, right = st.columns([3, 2])
        lines = []
        for verdict in review.verdicts:
            line = (
                f"- **{plain(verdict.set)}** · :{_VERDICT_COLOURS.get(verdict.verdict, 'gray')}[{verdict.verdict}]: "
                f"{plain(verdict.sentence)}"
            )
            gaps = review.gaps.get(verdict.set, [])
            if gaps:
                named = "; ".join(plain(gap_sentence(g)) for g in gaps)
                line += f"  \n  misses: {named}"
            lines.append(line)
        left.markdown("\n".join(lines))
        if review.gap_note:
            left.caption(plain(review.gap_note))
        rec = review.recommendation
        with right:
            st.markdown("**Recommended mixture**")
            if rec is None:
                st.caption(plain(review.recommendation_note))
            else:
                st.markdown(
                    f"Keep **{plain(rec.real_text())}**; weights {plain(rec.weights_text())}, strategy "
                    f"{plain(rec.strategy)}, {rec.size:,} rows. It reaches:"
                )
                metrics = rec.metric_table()
                st.markdown(
                    "| metric | mixture | all real |\n| --- | ---: | ---: |\n"
                    + "\n".join(f"| {r.metric} | {r.mixture:.3f} | {r[3]:.3f} |" for r in metrics.itertuples())
                )
                if rec.protected:
                    st.markdown(plain(rec.protection_text()))
                st.caption(plain(rec.text))


samples, manifest = current_dataset(__file__)
samples = samples.reset_index(drop=True)
with user_errors("Comparing the sets"):
    embeddings = dataset_embeddings(samples, manifest["sha256"])
    chosen, size, seed, extra = set_controls(samples, key="compare", size_help="most metrics change with size")
    with_mauve = extra.toggle(
        "MAUVE",
        value=True,
        key="compare_mauve",
        help="MAUVE (mauve-text) clusters the embeddings: a few seconds per set.",
    )
    table = dataset_compare(
        chosen.reset_index(drop=True), embeddings[chosen.index.to_numpy()], size=size, seed=seed, with_mauve=with_mauve
    )
    fired = risks(table)

    rows = chosen.index.to_numpy()
    gap_report, gap_note = dataset_gaps(samples, embeddings, manifest["sha256"], chosen, size, seed)
    engine = mixture_engine(samples, embeddings, manifest["sha256"])
    all_gaps, _ = dataset_gaps(samples, embeddings, manifest["sha256"], samples, None, 0)  # the Mixture designer's
    recommendation, note = _recommendation(
        manifest["sha256"], engine.cover.split, samples, embeddings, engine, all_gaps
    )
    review = review_summary(
        chosen.reset_index(drop=True),
        embeddings[rows],
        table,
        gap_report=gap_report,
        gap_note=gap_note,
        recommendation=recommendation,
        recommendation_note=note,
        seed=seed,
    )
    _at_a_glance(review)

    wide = values_by_set(table)
    wide = wide[[metric for metric in METRICS if metric in wide.columns]]
    summary = fired.groupby("set")["risk"].agg(lambda r: ", ".join(dict.fromkeys(r)))
    wide.insert(
        0, "collapse risks", [summary.get(name, "none" if name != BASELINE else "(baseline)") for name in wide.index]
    )
    st.subheader("Collapse risks, measured")
    if fired.empty:
        st.success("No collapse-risk rule fires for any set.", icon=":material/check:")
    for name, group in fired.groupby("set", sort=False):
        lines = "\n".join(f"- **{row.risk}** ({row.severity}, {row.rule}): {row.message}" for row in group.itertuples())
        (st.error if (group["severity"] == "alarm").any() else st.warning)(f"**{plain(name)}**\n\n{lines}")

    st.subheader("Metrics by family")
    st.caption(
        f"{len(wide) - 1} synthetic sets and the real-train baseline, {int(table['n'].iloc[0]):,} samples each. "
        "Hover a column title for the metric's definition and direction."
    )
    config = {
        metric: st.column_config.NumberColumn(
            metric,
            format="%.3f",
            help=f"{METRICS[metric].definition} {METRICS[metric].direction.capitalize()} is better. "
            f"Reference: {METRICS[metric].reference}.",
        )
        for metric in wide.columns
        if metric in METRICS
    }
    config["collapse risks"] = st.column_config.TextColumn(
        help="The collapse-risk rules that fire for the set (details above)."
    )
    # one table per family, its chart below it: all families side by side needed a horizontal scroll at 1400 px
    families = [f for f in FAMILIES if any(metric.family == f for metric in METRICS.values())]
    for family, tab in zip(families, st.tabs([f.capitalize() for f in families], key="compare_family")):
        with tab:
            shown = ["collapse risks", *(m for m in wide.columns if m in METRICS and METRICS[m].family == family)]
            st.dataframe(wide[shown], width="stretch", column_config=config)
            chart = charts.metric_multiples(table[table["family"] == family])
            st.altair_chart(chart)
            chart_downloads(chart, f"metrics-{family.replace(' ', '-')}", key=f"compare_export_{family}")
    coverage = table[table["metric"] == "coverage"]  # its reference says which balls judged it, or why it is empty
    if len(coverage):
        basis = str(coverage["reference"].iloc[0]).split("; ", 1)[-1]
        refused = coverage["value"].isna().all()
        (st.warning if refused else st.caption)(basis if refused else f"Coverage and tail coverage: {basis}.")
    table_download(table, "method-comparison", key="compare_csv", label="Table as CSV (tidy, with intervals)")

    if (table["generation"] > 1).any():
        st.subheader("Across generations")
        metric = st.selectbox(
            "Metric",
            list(METRICS),
            index=list(METRICS).index("distinct-2"),
            key="compare_gen_metric",
            help="Each method's recursive generations: g1 was made from real data, g2 from g1, …; "
            "generation 0 is the real-train baseline.",
        )
        generation_chart = charts.generation_lines(generation_table(table, metric), metric=metric)
        st.altair_chart(generation_chart, width="stretch")
        chart_downloads(generation_chart, "generations", key="compare_gen_export")
