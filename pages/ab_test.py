"""A/B test: is pipeline B really better than A? Every metric's difference with an interval and a corrected verdict."""

import streamlit as st

from analysis.ab import ab_test
from analysis.judge.compare import BASELINE, sets_of
from analysis.mixture import MixtureSpec
from analysis.views import charts
from pages._compute import built_mixture_engine, dataset_embeddings
from pages._controls import chart_downloads, table_download
from pages._shared import plain, user_errors
from pages._workspace import coverage_choice, current_dataset, workspace

st.title("A/B test")
st.caption(
    "Two synthetic sets, generations, mixtures or kept subsets measured at equal size against the same real "
    "holdout: the difference B − A of every metric with a paired bootstrap 95 % interval, a permutation test "
    "where the metric allows, Holm's correction across metrics, and a verdict in words."
)
MIXTURE = "the mixture you designed"

samples, manifest = current_dataset(__file__)
samples = samples.reset_index(drop=True)
with user_errors("Running the A/B test"):
    embeddings = dataset_embeddings(samples, manifest["sha256"])
    candidates = {name: rows for name, rows in sets_of(samples).items() if name != BASELINE}
    design, engine = st.session_state.get("mixture_design"), built_mixture_engine(manifest["sha256"])
    if design and design["dataset"] == manifest["sha256"] and engine is not None:
        candidates[MIXTURE] = engine.rows(MixtureSpec.from_dict(design["spec"]))
    ids = samples["id"].astype(str)
    for name, kept in workspace().subsets().items():
        candidates[f"subset: {name}"] = samples.index[ids.isin(set(kept))].to_numpy()
    names = list(candidates)
    if len(names) < 2:
        st.info(
            "An A/B test needs two synthetic sets: load or generate another one, or design a mixture.",
            icon=":material/info:",
        )
        st.stop()

    with st.form("ab_settings"):
        top = st.columns(2)
        a = top[0].selectbox("A", names, index=names.index("llm") if "llm" in names else 0, key="ab_a")
        b = top[1].selectbox("B", names, index=names.index("paraphrase") if "paraphrase" in names else 1, key="ab_b")
        more = st.columns(4)
        size = more[0].number_input("Samples per set (0 = the smaller set)", 0, 100_000, 0, step=100, key="ab_size")
        rounds = more[1].number_input(
            "Bootstrap rounds",
            99,
            9_999,
            999,
            step=100,
            key="ab_rounds",
            help="Also the permutations per test. Below about 560, Holm's correction over "
            "28 metrics can never reject: keep 999 for a verdict.",
        )
        alpha = more[2].number_input("Family-wise error rate (alpha)", 0.001, 0.2, 0.05, step=0.01, key="ab_alpha")
        seed = more[3].number_input("Seed", 0, 2**31 - 1, 0, key="ab_seed")
        run = st.form_submit_button("Run the test", icon=":material/science:", type="primary")

    coverage = coverage_choice()  # the workspace's coverage reference (Data page)
    settings = (
        manifest["sha256"],
        a,
        b,
        int(size),
        int(rounds),
        float(alpha),
        int(seed),
        len(candidates[a]),
        len(candidates[b]),
        coverage,
    )
    if run:
        if a == b:
            st.warning("A and B are the same set: choose two different ones.", icon=":material/warning:")
            st.stop()
        bar = st.progress(0.0, text="Measuring A and B…")
        result = ab_test(
            samples,
            candidates[a],
            candidates[b],
            names=(a, b),
            embeddings=embeddings,
            size=int(size) or None,
            rounds=int(rounds),
            permutations=int(rounds),
            alpha=float(alpha),
            seed=int(seed),
            coverage=coverage,
            progress=lambda done, total: bar.progress(done / max(total, 1), text=f"Step {done} of {total}…"),
        )
        bar.empty()
        st.session_state["ab_result"] = (settings, result)

    stored = st.session_state.get("ab_result")
    if not stored or stored[0] != settings:
        st.caption("Choose A and B and run the test (about half a minute on the demo at 999 rounds).")
        st.stop()
    result = stored[1]
    table = result.table
    found = table[table["significant"].astype(bool)]
    st.subheader("Verdicts")
    st.caption(
        f"{result.settings.get('n', int(table['n'].iloc[0])):,} samples per set; {len(found)} of "
        f"{table['p_holm'].notna().sum()} tested metrics differ after Holm's correction (alpha {alpha:g})."
    )
    if found.empty:
        st.info(f"No clear difference between {plain(a)} and {plain(b)} on any metric.", icon=":material/balance:")
    else:
        st.text("\n".join(f"• {verdict}" for verdict in found["verdict"]))  # set names are the user's: plain text
    shown = table[["metric", "a", "b", "difference", "ci_low", "ci_high", "p_holm", "significant", "verdict"]]
    number = st.column_config.NumberColumn(format="%.4g")
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "a": st.column_config.NumberColumn(a, format="%.4g"),
            "b": st.column_config.NumberColumn(b, format="%.4g"),
            "difference": number,
            "ci_low": number,
            "ci_high": number,
            "p_holm": st.column_config.NumberColumn("Holm p", format="%.3g"),
        },
    )
    table_download(table, f"ab-{a}-vs-{b}", key="ab_csv", label="Table as CSV")

    chart = charts.ab_differences(table, names=result.names)
    st.altair_chart(chart)
    chart_downloads(chart, f"ab-{a}-vs-{b}", key="ab_export")

    st.subheader("Downstream: topics each set teaches")
    if result.per_label.empty:
        st.info("These samples have no labels: only the detection metric applies.", icon=":material/info:")
    else:
        st.caption(
            "Recall per real topic of a classifier trained on each set (train on synthetic, test on real); "
            "real train data of the same size is the ceiling."
        )
        st.dataframe(
            result.per_label.rename(
                columns={"recall_a": f"recall ({a})", "recall_b": f"recall ({b})", "recall_real": "recall (real train)"}
            ),
            hide_index=True,
            width="stretch",
        )
    st.subheader("What gives each set away")
    st.caption(
        "The samples a real-vs-synthetic classifier finds most synthetic (detection AUC 0.5: indistinguishable)."
    )
    for column, name in zip(st.columns(2), result.names):
        column.text(name)
        column.dataframe(result.most_synthetic[name][["score", "text"]].head(8), hide_index=True, width="stretch")
