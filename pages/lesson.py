"""Lesson: model collapse for a class in five short steps (analysis.views.lesson), on the simulator and the demo."""

import numpy as np
import pandas as pd
import streamlit as st

from analysis.views.lesson import LARGE_TYPE_CSS, STEPS, map_step, step_chart, step_curves
from analysis.views.review import gap_sentence
from pages._compute import dataset_embeddings, dataset_projection
from pages._shared import plain, user_errors
from pages._workspace import current_dataset, demo_dataset

current_dataset(
    __file__, needs_real=False
)  # through the router like every page; the lesson itself needs only the built-in demo
st.title("Lesson: how models collapse")
large = st.toggle(
    "Large type (projector)", key="lesson_large", help="Bigger text and charts for a room (fits 1280 × 720)."
)
if large:
    st.markdown(LARGE_TYPE_CSS, unsafe_allow_html=True)  # a fixed style block: no user text in it

st.session_state.setdefault("lesson_step", 0)


def _move(by: int) -> None:
    st.session_state["lesson_step"] = min(max(st.session_state["lesson_step"] + by, 0), len(STEPS) - 1)


number = st.session_state["lesson_step"]
step = STEPS[number]
st.progress((number + 1) / len(STEPS), text=f"Step {number + 1} of {len(STEPS)}")
st.header(step.title)
st.markdown(step.intro)


@st.cache_data(show_spinner="Running the simulation…", max_entries=64)
def _curves(key: str, value: int) -> pd.DataFrame:
    return step_curves(next(s for s in STEPS if s.key == key), value)


@st.cache_data(show_spinner="Naming the regions each set misses (once)…", max_entries=2)
def _demo_gaps(sha256: str, _samples: pd.DataFrame, _embeddings: np.ndarray, _xy: np.ndarray):
    from analysis.views.review import named_gaps

    return named_gaps(_samples, _embeddings, xy=_xy)[0]


control = step.control
with user_errors("Running this step"):
    if control.options:
        value = st.select_slider(
            control.label, control.options, value=control.options[0], key=f"lesson_{step.key}", help=control.help
        )
    else:
        value = st.slider(
            control.label,
            control.low,
            control.high,
            control.default,
            control.step,
            key=f"lesson_{step.key}",
            help=control.help,
        )
    if step.key == "map":
        samples, manifest = demo_dataset()  # the built-in demo, whatever the class has loaded
        samples = samples.reset_index(drop=True)
        embeddings = dataset_embeddings(samples, manifest["sha256"])
        xy = dataset_projection(
            samples, embeddings, manifest["sha256"], fit_on_real=False, n_neighbors=15, min_dist=0.1, seed=None
        )
        report = _demo_gaps(manifest["sha256"], samples, embeddings, np.asarray(xy))
        chart, gaps = map_step(samples, np.asarray(xy), report, str(value), large=large)
        st.altair_chart(chart)
        if gaps:
            st.markdown(f"**{plain(value)} misses:** " + "; ".join(plain(gap_sentence(g)) for g in gaps))
        else:
            st.caption(f"No named gap for {plain(value)}.")
    else:
        st.altair_chart(step_chart(_curves(step.key, int(value)), large=large))

st.info(f"**What to notice.** {step.notice}", icon=":material/visibility:")
st.markdown(f"**Try this.** {step.question}")

back, _, forward = st.columns([1, 4, 1])
back.button(
    "Previous", icon=":material/arrow_back:", key="lesson_previous", on_click=_move, args=(-1,), disabled=number == 0
)
forward.button(
    "Next",
    icon=":material/arrow_forward:",
    key="lesson_next",
    on_click=_move,
    args=(1,),
    disabled=number == len(STEPS) - 1,
    type="primary",
)
