"""Tail coverage: does each synthetic set reach the rare part of the real data, or only its common head?"""

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from analysis.corpus import LoadReport
from analysis.fill import fill_gap, fill_points
from analysis.judge.coverage import TailReport, tail_report
from analysis.maps.gaps import GapReport, gaps_frame
from analysis.metrics.fidelity import group_floor
from analysis.views import charts
from pages import _compute
from pages._compute import dataset_embeddings, dataset_gaps, dataset_projection
from pages._controls import chart_downloads, set_controls, table_download
from pages._shared import plain, user_errors
from pages._workspace import coverage_choice, current_dataset, demo_dataset, workspace

st.title("Tail coverage")
st.caption(
    "Real samples binned from the most common (head) to the rarest (tail) by their distance to their 5th nearest "
    "real neighbour, and the share of each bin that each set reaches; real data of the same size is the ceiling. "
    "By default every real sample is judged, cross-fitted: the real data is dealt into two halves, each half's "
    "k-NN balls drawn among itself and reached only by the set and by real data from the other half (the Data "
    "page can switch to a fixed holdout). The same balls give the comparison's coverage and the mixture's."
)


@st.cache_data(show_spinner="Measuring tail coverage…", max_entries=8)
def _report(
    sha256: str,
    ids: tuple[str, ...],
    bins: int,
    size: int | None,
    seed: int,
    coverage: str,
    _samples: pd.DataFrame,
    _embeddings: np.ndarray,
) -> TailReport:
    return tail_report(_samples, _embeddings, bins=bins, size=size, seed=seed, coverage=coverage)


def _named_gaps(report: GapReport | None, note: str, samples: pd.DataFrame) -> None:
    """The regions each set misses, in words: its share of real data against the set's, examples, labels."""
    st.subheader("What each set misses")
    st.caption(
        "The real samples are grouped into regions by meaning (on their embeddings only, so adding a set never "
        "changes them), each named by its most distinctive words and main labels. A region is listed for a set when "
        "the set holds far less of it than real data does: " + (plain(report.rule) if report else "")
    )
    if report is None:
        st.info("No gaps are named. " + plain(note), icon=":material/info:")
        return
    if report.unsupported:
        st.info("No gaps are named. " + plain(report.unsupported), icon=":material/info:")
        return
    for name in report.gaps:
        st.markdown("**" + plain(report.text_summary(name)) + "**")
        if unsure := report.blind_summary(name):
            st.caption(plain(unsure))
    table = gaps_frame(report, samples)
    if table.empty:
        return
    if report.coverage_note:
        st.caption("The k-NN coverage columns are empty: " + plain(report.coverage_note))
    share: dict[str, Any] = {"format": "percent", "min_value": 0.0, "max_value": 1.0}
    st.dataframe(
        table.drop(columns=["in words"]),
        hide_index=True,
        width="stretch",
        column_config={
            "share of real": st.column_config.ProgressColumn(
                "share of real", **share, help="Share of the real samples in the region (placed as the set's are)"
            ),
            "share of set": st.column_config.ProgressColumn(
                "share of set", **share, help="Share of the set's samples whose nearest real samples are in the region"
            ),
            "real unmatched": st.column_config.NumberColumn(
                help="Real samples of the region the set's share leaves unmatched: size × (1 − set share / real share)"
            ),
            "covered": st.column_config.ProgressColumn(
                "k-NN covered", **share, help="Share of the region's holdout samples the set covers (k-NN balls)"
            ),
            "covered by real": st.column_config.ProgressColumn(
                "real covers", **share, help="Share a real train sample of the same size covers"
            ),
            "examples": st.column_config.TextColumn("typical real texts (nearest the centre)", width="large"),
            "nearest synthetic": st.column_config.TextColumn("the set's nearest texts", width="large"),
            "labels": st.column_config.TextColumn("labels of the region's real samples"),
        },
    )
    table_download(table, "named-gaps", key="tail_gaps_csv", label="Table as CSV")


def _fill(report: GapReport | None, chosen: pd.DataFrame, embeddings: np.ndarray, map_xy) -> None:
    """A "Fill this gap" button under the named gaps (:func:`analysis.fill.fill_gap`); the new samples join the set.
    ``map_xy()`` gives the chosen rows' positions on the dataset's map (where the new samples are drawn)."""
    if last := st.session_state.get("tail_fill_result"):
        st.success(plain(last["sentence"]), icon=":material/auto_fix_high:")
        before_after, where = st.columns([3, 2])
        before_after.dataframe(pd.DataFrame(last["table"]), hide_index=True)
        where.altair_chart(charts.fill_map(pd.DataFrame(last["points"]), width=420, height=300), width="stretch")
    if report is None or report.unsupported or not any(report.gaps.values()):
        return
    gaps = [gap for listed in report.gaps.values() for gap in listed]
    st.markdown("**Fill a gap**")
    st.caption(
        "Generate new samples aimed at a gap: llm is shown real samples typical of the region with its name as the "
        "topic; paraphrase rewrites the region's real samples the set misses most. Copies of real samples are "
        "dropped and counted; the gap is then measured again and the new samples join the set."
    )
    pick, how, many = st.columns([4, 2, 1])
    index = pick.selectbox(
        "Gap",
        range(len(gaps)),
        format_func=lambda i: gaps[i].sentence(),
        key="tail_fill_gap",  # options: plain text
    )
    method = how.radio("Method", ["llm", "paraphrase"], horizontal=True, key="tail_fill_method")
    n = many.number_input("Samples", 1, 200, 6, key="tail_fill_n")
    if not st.button("Fill this gap", type="primary", key="tail_fill"):
        return
    gap = gaps[int(index)]
    with user_errors("Filling the gap"):
        bar = st.progress(0.0, text="Preparing…")
        done = [0]

        def stage(name: str, text: str) -> None:
            bar.progress(min(done[0] / int(n), 1.0), text=text)

        def progress(accepted: int, total: int) -> None:
            done[0] = accepted
            bar.progress(min(accepted / max(total, 1), 1.0), text=f"{accepted:,} of {total:,} samples generated")

        result = fill_gap(
            chosen,
            embeddings,
            gap,
            method=method,
            n=int(n),
            embed=lambda texts: _compute.embed(list(texts)),
            before=report,
            on_stage=stage,
            progress=progress,
        )
        bar.progress(1.0, text=f"Adding {result.kept:,} samples to the dataset…")
        part_report = LoadReport(
            path=f"filled: {gap.name}", format="generated", rows_read=result.generated, rows_kept=result.kept
        )
        if result.dropped_copies:
            part_report.drop("copy of a real sample", result.dropped_copies)
        part_report.notes.append(plain(result.sentence()))
        if result.kept:
            part = {
                "name": f"fill {gap.set}: {gap.name}",
                "source": "synthetic",
                "method": gap.set,
                "rows": result.kept,
                "report": part_report.to_dict(),
            }
            workspace().add_samples(result.samples, part, empty=demo_dataset)
        st.session_state["tail_fill_result"] = {
            "sentence": result.sentence(),
            "table": result.table().to_dict("records"),
            "points": fill_points(chosen, embeddings, map_xy(), result).to_dict("list"),
        }
        st.rerun()


def _not_supported(shares: pd.DataFrame, group: str, what: str, k: int) -> None:
    """Say how many groups have no coverage share (too few holdout samples in them); the table lists them."""
    small = shares.loc[~shares["supported"].astype(bool)]
    if not small.empty:
        count = small[group].nunique()
        st.caption(
            f"{count} {what} hold fewer than {group_floor(k)} holdout samples (4 × k), too few for a share to mean "
            f"anything: their coverage is not drawn (empty in the table)."
        )


samples, manifest = current_dataset(__file__)
samples = samples.reset_index(drop=True)
with user_errors("Measuring tail coverage"):
    embeddings = dataset_embeddings(samples, manifest["sha256"])
    chosen, size, seed, extra = set_controls(samples, key="tail", size_help="coverage grows with size")
    bins = extra.number_input("Rarity bins", 2, 50, 10, key="tail_bins")
    rows = chosen.index.to_numpy()
    report = _report(
        manifest["sha256"],
        tuple(chosen["id"].astype(str)),
        int(bins),
        size,
        seed,
        coverage_choice(),
        chosen.reset_index(drop=True),
        embeddings[rows],
    )
    st.caption(f"Each set at {report.size:,} samples (seed {seed}); coverage judged by {report.reference}.")
    gap_report, gap_note = dataset_gaps(samples, embeddings, manifest["sha256"], chosen, size, seed)
    _named_gaps(gap_report, gap_note, chosen)
    _fill(
        gap_report,
        chosen.reset_index(drop=True),
        embeddings[rows],
        lambda: np.asarray(
            dataset_projection(
                samples, embeddings, manifest["sha256"], fit_on_real=False, n_neighbors=15, min_dist=0.1, seed=None
            )
        )[rows],
    )

    if report.unsupported:
        st.warning(report.unsupported + " Token coverage below does not depend on it.", icon=":material/warning:")
    else:
        st.caption(
            "Rarer samples have wider neighbourhoods (k-NN balls), so every set covers more of the tail bins than "
            "of the head; read each bar against the ceiling tick above it: the gap is what the set misses. A bin "
            "mixes topics, so a missing topic shows in the named gaps above, not necessarily here."
        )
        _not_supported(report.bins, "bin", "rarity bins", report.k)
        bars = charts.tail_coverage_bars(report.bins)
        st.altair_chart(bars, width="stretch")
        chart_downloads(bars, "tail-coverage", key="tail_bars_export")
        table_download(report.bins, "tail-coverage", key="tail_bins_csv", label="Table as CSV")

    left, right = st.columns(2)
    with left:
        zipf = charts.zipf_curves(report.zipf)
        st.altair_chart(zipf, width="stretch")
        chart_downloads(zipf, "zipf", key="tail_zipf_export")
    with right:
        tokens = charts.value_bars(
            report.rare_tokens,
            value="rare-token coverage",
            title="Rare-token coverage (holdout words seen at most twice)",
        )
        st.altair_chart(tokens, width="stretch")
        chart_downloads(tokens, "rare-token-coverage", key="tail_tokens_export")

    if report.unsupported:  # said above; per-label coverage and missed samples would rest on the same balls
        st.stop()
    if report.labels.empty:
        st.info("These samples have no labels, so there is no per-label coverage.", icon=":material/info:")
    else:
        _not_supported(report.labels, "label", "labels", report.k)
        heatmap = charts.label_heatmap(report.labels[report.labels["supported"]])
        st.altair_chart(heatmap, width="stretch")
        chart_downloads(heatmap, "label-coverage", key="tail_labels_export")
        table_download(report.labels, "label-coverage", key="tail_labels_csv", label="Table as CSV")

    st.subheader("Most-missed real samples")
    st.caption(
        f"Holdout samples that none of the {report.synthetic_sets} synthetic sets covers, rarest first (rarity = "
        f"distance to the k-th nearest holdout neighbour, k = {report.k}; bin {int(bins)} is the rarest)."
    )
    missed = report.missed.assign(bin=report.missed["bin"] + 1)
    st.dataframe(
        missed,
        hide_index=True,
        width="stretch",
        height=320,
        column_config={"rarity": st.column_config.NumberColumn(format="%.3f")},
    )
    table_download(missed, "most-missed", key="tail_missed_csv", label="Table as CSV")
