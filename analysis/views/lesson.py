"""A guided lesson on model collapse for a class: five short steps, each one action, one chart, one sentence.

The steps are data (:data:`STEPS`): a title, the one control (a slider or a button), the sentence
of what to notice and a question to try. :func:`step_curves` runs the simulator (:mod:`analysis.simulate`)
for steps 1–4 at the control's value; step 5 draws the demo's real and synthetic data on the map
with its named gaps (:func:`map_step`). Nothing needs data of the class's own: the text steps use
the built-in demo corpus.

1. a Gaussian fitted to its own samples, *replace*: the variance shrinks;
2. the same under *accumulate*: it holds;
3. a fixed real share (*mix*): it settles, higher with more real data;
4. the n-gram language model losing its rare words;
5. real against synthetic data of the demo on the map, and the regions the synthetic set misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

__all__ = ["Control", "Step", "STEPS", "step_curves", "step_chart", "map_step", "LARGE_TYPE_CSS", "MAP_SETS"]


@dataclass(frozen=True)
class Control:
    """The one thing a step lets the class change: a slider from ``low`` to ``high`` (or a button)."""

    kind: str  # "slider" or "button"
    label: str
    low: int = 0
    high: int = 0
    default: int = 0
    step: int = 1
    help: str = ""
    options: tuple[str, ...] = ()  # a slider over named options (step 5) instead of numbers


@dataclass(frozen=True)
class Step:
    """One step of the lesson: what it shows, its one control, what to notice, a question to try."""

    key: str
    title: str
    intro: str
    control: Control
    notice: str
    question: str


#: The synthetic sets of the demo that step 5's slider walks through: the LLM's recursive generations.
MAP_SETS = ("llm", "llm g2", "llm g3")

STEPS: tuple[Step, ...] = (
    Step(
        key="replace",
        title="1. A Gaussian trained on its own samples",
        intro="Fit a bell curve to n samples, draw n new samples from the fit, fit again: 50 generations, "
        "averaged over 30 runs. The dashed line is the published expectation.",
        control=Control(
            "slider", "Samples per generation (n)", 5, 100, 10, 5, help="How many samples each generation sees."
        ),
        notice="The variance shrinks generation after generation: each fit loses a little of the tails, and "
        "nothing brings them back.",
        question="With n = 10, after about how many generations is half of the variance gone? And with n = 100?",
    ),
    Step(
        key="accumulate",
        title="2. The same, keeping all the data (accumulate)",
        intro="Now each generation trains on the real data and every earlier generation's samples, not only on "
        "the last one's (n = 10). Red: replace, as in step 1; blue: accumulate.",
        control=Control("slider", "Generations", 10, 100, 50, 10, help="How long the chain of generations runs."),
        notice="Under accumulate the variance holds near the real value, however long the chain: the real data "
        "never leaves the training set.",
        question="Why does keeping old data help even though the newest samples are just as narrow?",
    ),
    Step(
        key="mix",
        title="3. A fixed share of real data (mix)",
        intro="Each generation trains on n = 10 samples, a fixed share of them fresh real data and the rest the "
        "last generation's output. Green: mix at the share you choose.",
        control=Control(
            "slider", "Real share (%)", 0, 100, 30, 10, help="The share of each generation's data that is real."
        ),
        notice="Any real share stops the collapse: the variance settles instead of falling to zero, and it "
        "settles higher the more real data each generation keeps.",
        question="What is the smallest real share that keeps the variance within 10 % of the real variance?",
    ),
    Step(
        key="ngram",
        title="4. A language model losing its rare words",
        intro="An n-gram language model of the demo's Wikipedia summaries writes 300 sentences, the next model "
        "learns only from them (replace), and so on for 6 generations. Sampling keeps only the most likely words "
        "(top-p).",
        control=Control(
            "slider",
            "Top-p (%)",
            50,
            100,
            90,
            10,
            help="The share of probability mass the model samples from; 100 % samples from every word.",
        ),
        notice="Rare words go first: the vocabulary and the share of the real text's rare words the model still "
        "uses fall every generation, fastest when top-p keeps less.",
        question="Which kind of words would you expect to survive longest, and why?",
    ),
    Step(
        key="map",
        title="5. Real and synthetic data on the map",
        intro="Every sentence of the demo is a point; similar sentences lie close. Grey: real Wikipedia summaries. "
        "Coloured: sentences an LLM wrote, and then wrote again from its own output (g2, g3). Red circles: real "
        "regions the synthetic set misses, named by their most distinctive words.",
        control=Control(
            "slider",
            "Synthetic set",
            options=MAP_SETS,
            help="llm: written from real text; llm g2 from llm's output; llm g3 from llm g2's.",
        ),
        notice="Each generation leaves more of the real map uncovered: the named gaps grow, and the synthetic points "
        "gather in fewer places.",
        question="Look at the names of the gaps: what kinds of topics does the synthetic data stop writing about?",
    ),
)

#: The projector's large type: a fixed style block (no user text in it), put on the page as is.
LARGE_TYPE_CSS = """<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.6rem !important;
  line-height: 1.45 !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.3rem !important; }
h1 { font-size: 3.2rem !important; } h2, h3 { font-size: 2.3rem !important; }
[data-testid="stWidgetLabel"] p, button p { font-size: 1.4rem !important; }
</style>"""


def step_curves(step: Step, value: int, *, seed: int = 0, samples: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tidy curves (``regime, generation, metric, value, kind``) of steps 1–4 at the control's ``value``.

    ``kind`` is ``simulated`` or ``expected (closed form)`` (the Gaussian's published expectation).
    ``samples``: the real texts for the n-gram step (default the demo's).
    """
    from analysis.simulate import average_runs, expected_curves, simulate

    if step.key in ("replace", "accumulate", "mix"):
        n = int(value) if step.key == "replace" else 10
        generations = int(value) if step.key == "accumulate" else 50
        regimes = {"replace": ("replace",), "accumulate": ("replace", "accumulate"), "mix": ("mix",)}[step.key]
        share = value / 100 if step.key == "mix" else 0.5
        curves = average_runs(
            "gaussian", regimes, repeats=30, generations=generations, n=n, seed=seed, real_share=share
        )
        curves = curves[curves["metric"] == "variance"].assign(kind="simulated")
        expected = expected_curves("gaussian", regimes, generations=generations, n=n)
        if expected is not None and len(expected):
            expected = expected[expected["metric"] == "variance"].assign(kind="expected (closed form)")
            curves = pd.concat([curves, expected], ignore_index=True)
        return curves[["regime", "generation", "metric", "value", "kind"]].reset_index(drop=True)
    if step.key == "ngram":
        run = simulate("ngram", ("replace",), generations=6, n=300, seed=seed, top_p=value / 100, samples=samples)
        curves = run.metrics[run.metrics["metric"].isin(["vocabulary", "rare-token coverage"])]
        return curves[["regime", "generation", "metric", "value"]].assign(kind="simulated").reset_index(drop=True)
    raise ValueError(f"step {step.key!r} has no curves; it draws a map (map_step)")


def step_chart(curves: pd.DataFrame, *, large: bool = False) -> alt.FacetChart:
    """Steps 1–4's chart: each metric over generations, a line per regime (closed forms dashed).

    ``large`` (the projector mode): wider, shorter panels side by side, so the chart fills a 1280 × 720
    screen above the fold, with axis, legend and panel text at projector size (:func:`projector`).
    """
    from analysis.views.simulation_charts import simulation_curves

    simulated = curves[curves["kind"] == "simulated"]
    expected = curves[curves["kind"] != "simulated"]
    panels = max(1, simulated["metric"].nunique())
    size = {"width": 1100 // panels - 60, "height": 300} if large else {}
    chart = simulation_curves(simulated, expected=expected if len(expected) else None, columns=2, **size)
    return projector(chart) if large else chart


def projector(chart: Any) -> Any:
    """A chart with its text at projector size: axis labels and titles, legends and panel headers."""
    return (
        chart.configure_axis(labelFontSize=17, titleFontSize=19)
        .configure_legend(labelFontSize=18, titleFontSize=19, symbolSize=220)
        .configure_header(labelFontSize=19, titleFontSize=19)
        .configure_text(fontSize=17)
    )


def map_step(
    samples: pd.DataFrame, xy: np.ndarray, gap_report: Any, set_name: str, *, top: int = 3, large: bool = False
) -> tuple[alt.LayerChart, list[Any]]:
    """Step 5: the map of real data and one synthetic set with that set's top named gaps circled, and the gaps.

    ``gap_report``: :func:`analysis.maps.gaps.find_gaps` of ``samples`` on ``xy`` (None: no gaps drawn).
    """
    from analysis.views.review import ReviewSummary, gap_map

    gaps = list(gap_report.top(set_name, top)) if gap_report is not None else []
    summary = ReviewSummary(overall="", verdicts=[], gaps={set_name: gaps}, gap_report=gap_report)
    size = {"width": 1000, "height": 420, "label_size": 20} if large else {"width": 640, "height": 440}
    chart = gap_map(samples, xy, summary, sets=[set_name], points=4000, **size)
    return (projector(chart) if large else chart), gaps
