"""Collapse simulator: a model trained on its own output, generation after generation, under three data regimes."""

import pandas as pd
import streamlit as st

from analysis.simulate import METRICS, MODELS, REGIMES, average_runs, expected_curves, project_generations, simulate
from analysis.views import charts
from pages._controls import chart_downloads, table_download
from pages._shared import user_errors
from pages._workspace import current_dataset

st.title("Collapse simulator")
st.caption(
    "Each generation is trained on data drawn from the one before: *replace* uses only the last generation's "
    "output, *accumulate* keeps every earlier generation and the real data, *mix* keeps a fixed share of real data. "
    "Real runs, no canned curves; dashed lines are the published closed forms."
)

ABOUT = {
    "gaussian": "A Gaussian fitted by maximum likelihood to its own samples (Shumailov et al., Nature 2024): "
    "the variance shrinks and the tails vanish.",
    "regression": "Linear regression trained on its own predictions (Gerstgrasser et al. 2024): test error grows "
    "linearly under replace and stays bounded under accumulate.",
    "ngram": "A Kneser-Ney n-gram language model of the real texts, sampling its next training set: perplexity on "
    "real text climbs, rare words disappear.",
    "embedding": "A Gaussian mixture fitted to the sentence embeddings of real texts and resampled: coverage of the "
    "real data shrinks.",
}
#: What to look at first in each model's charts: the one thing a newcomer should notice.
LOOK = {
    "gaussian": "What to look at: the **variance**. Under *replace* it shrinks generation after generation (each fit "
    "loses a little of the tails and nothing brings them back); under *accumulate* it holds near the real variance; "
    "*mix* settles in between, higher with more real data.",
    "regression": "What to look at: the **test error**. Under *replace* it grows with every generation (errors "
    "compound); under *accumulate* it stays bounded; *mix* stays low.",
    "ngram": "What to look at: **vocabulary** and **rare-token mass**. Under *replace* the rare words disappear "
    "first and perplexity on real text climbs; *accumulate* keeps them.",
    "embedding": "What to look at: **coverage** and **recall**. Under *replace* the generated points pile into fewer "
    "places and reach less of the real data; *accumulate* keeps reaching it.",
}
DEFAULT_N = {"gaussian": 20, "regression": 100, "ngram": 1000, "embedding": 1000}
FAST = ("gaussian", "regression")  # cheap enough to average many runs

samples, _ = current_dataset(__file__)
model = st.segmented_control("Model", MODELS, default="gaussian", key="sim_model") or "gaussian"
st.caption(ABOUT[model])

with st.form(f"sim_settings_{model}"):
    top = st.columns(4)
    regimes = top[0].pills(
        "Regimes",
        REGIMES,
        selection_mode="multi",
        default=list(REGIMES),
        key=f"sim_regimes_{model}",
        help="replace: only the last generation's output; accumulate: every generation and the real data; "
        "mix: a fixed real share.",
    )
    generations = top[1].slider("Generations", 1, 50, 20, key=f"sim_generations_{model}")
    n = top[2].number_input("Samples per generation (n)", 10, 100_000, DEFAULT_N[model], key=f"sim_n_{model}")
    real_share = top[3].slider(
        "Real share in mix (%)",
        0,
        100,
        67,
        key=f"sim_share_{model}",
        help="The share of each generation's training data that stays real in the mix regime.",
    )
    more = st.columns(4)
    seed = more[0].number_input("Seed", 0, 2**31 - 1, 0, key=f"sim_seed_{model}")
    params: dict = {}
    repeats = 1
    if model in FAST:
        repeats = more[1].number_input(
            "Runs to average",
            1,
            1000,
            100,
            key=f"sim_repeats_{model}",
            help="The closed forms are expectations: average many seeded runs to compare.",
        )
    if model == "ngram":
        params["order"] = more[1].selectbox("Order", [2, 3], index=1, key="sim_order")
        params["temperature"] = more[2].slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="sim_temperature")
        params["top_p"] = more[3].slider(
            "Top-p",
            0.1,
            1.0,
            0.9,
            0.05,
            key="sim_top_p",
            help="Sampling only from the most likely words: the truncation that drives collapse.",
        )
    st.form_submit_button("Run", icon=":material/play_arrow:", type="primary")

settings = dict(
    model=model,
    regimes=tuple(regimes),
    generations=int(generations),
    n=int(n),
    seed=int(seed),
    real_share=real_share / 100,
    repeats=int(repeats),
    params=tuple(sorted(params.items())),
)
key = repr(sorted(settings.items()))
results = st.session_state.setdefault("sim_results", {})

st.markdown(LOOK[model])
st.markdown(
    "**What each metric measures**\n\n"
    + "\n".join(f"- **{metric}**: {definition}" for metric, definition in METRICS[model].items())
)
progress_slot = st.empty()
results_area = st.empty()  # everything a run draws lives here, so a new run replaces it at once

with user_errors("Simulating"):
    if not regimes:
        results_area.info("Choose at least one regime.", icon=":material/info:")
        st.stop()
    if key not in results:
        # the previous settings' (or model's) charts go now, not when the new run ends
        results_area.info(
            f"Running the {model} model with these settings… the charts follow.", icon=":material/hourglass_top:"
        )
        bar = progress_slot.progress(0.0, text="Simulating…")
        data = {"samples": samples} if model in ("ngram", "embedding") else {}
        common = dict(generations=int(generations), n=int(n), real_share=real_share / 100, **params, **data)
        run = simulate(
            model,
            regimes,
            seed=int(seed),
            **common,
            progress=lambda done, total: bar.progress(done / total, text=f"Generation steps: {done} of {total}…"),
        )
        curves = run.metrics
        if repeats > 1:
            curves = average_runs(
                model,
                regimes,
                repeats=int(repeats),
                seed=int(seed),
                **common,
                progress=lambda done, total: bar.progress(done / total, text=f"Runs: {done} of {total}…"),
            )
        expected = expected_curves(model, regimes, generations=int(generations), n=int(n), **params)
        progress_slot.empty()
        while len(results) >= 6:
            results.pop(next(iter(results)))
        results[key] = {"run": run, "curves": curves, "expected": expected}
    result = results[key]
    run, curves = result["run"], result["curves"]

    with results_area.container():
        averaged = (
            f"mean of {repeats} runs (seeds {seed}–{seed + repeats - 1})" if repeats > 1 else f"one run, seed {seed}"
        )
        st.subheader("Over generations")
        dashed = (
            " Solid: simulated; dashed: the closed form."
            if result["expected"] is not None and len(result["expected"])
            else ""
        )
        st.caption(
            f"{model}, n = {n:,} per generation, {averaged}; computed in {run.seconds:.1f} s for one run.{dashed}"
        )
        chart = charts.simulation_curves(curves, expected=result["expected"])
        st.altair_chart(chart)
        chart_downloads(chart, f"simulation-{model}", key="sim_curves_export")
        table_download(curves, f"simulation-{model}", key="sim_csv", label="Curves as CSV")

        st.subheader("One generation")
        shown = st.slider("Generation", 0, run.generations, run.generations, key="sim_generation")
        st.caption(f"Seed {seed}'s run at generation {shown}.")
        if model == "gaussian":
            histogram = run.snapshots["histogram"]
            st.altair_chart(charts.generation_histogram(histogram[histogram["generation"] == shown]), width="stretch")
        elif model == "regression":
            weights = run.snapshots["weights"]
            st.altair_chart(charts.weight_bars(weights[weights["generation"] == shown]), width="stretch")
        elif model == "ngram":
            ranks = run.snapshots["rank_frequency"]
            now = ranks[ranks["generation"] == shown].assign(set=lambda t: t["regime"] + f", generation {shown}")
            start = ranks[(ranks["generation"] == 0)].drop_duplicates("rank").assign(set="generation 0 (fit to real)")
            st.altair_chart(charts.zipf_curves(pd.concat([start, now], ignore_index=True)), width="stretch")
            texts = run.snapshots["texts"]
            st.caption("Sampled texts of this generation (the model's own writing):")
            st.dataframe(texts[texts["generation"] == shown][["regime", "text"]], hide_index=True, width="stretch")
        else:
            maps = st.session_state.setdefault("sim_maps", {})
            if key not in maps and st.button(
                "Draw the generations on a map", icon=":material/scatter_plot:", key="sim_map"
            ):
                with st.spinner("Fitting a UMAP map of the real points and placing every generation in it…"):
                    maps[key] = project_generations(run)
            if key in maps:
                points = maps[key]
                st.altair_chart(
                    charts.generation_scatter(points[points["generation"].isin([-1, shown])]), width="stretch"
                )
            else:
                st.caption("The map fits UMAP on the real points once (about 30 s the first time after a start).")
