"""Collapse Lab: the entry point. A router over the pages, the session's workspace, and the sidebar's dataset card.

Start it with ``make app`` (or ``streamlit run app.py``).
"""

import streamlit as st

from pages._workspace import choose_workspace, current_dataset, mark_router, recovery_notice, sidebar_dataset

# The favicon is an emoji (a data: URL): a Material icon here would be fetched from a font host.
st.set_page_config(page_title="Collapse Lab", page_icon="🧪", layout="wide")

pages = {
    "Data": [
        st.Page("pages/data.py", title="Data", icon=":material/table_view:", default=True),
        st.Page("pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
    ],
    "Analyse": [
        st.Page("pages/embedding_map.py", title="Embedding map", icon=":material/scatter_plot:"),
        st.Page("pages/tail_coverage.py", title="Tail coverage", icon=":material/stacked_bar_chart:"),
        st.Page("pages/comparison.py", title="Method comparison", icon=":material/compare:"),
        st.Page("pages/ab_test.py", title="A/B test", icon=":material/balance:"),
        st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
    ],
    "Design": [
        st.Page("pages/mixture.py", title="Mixture designer", icon=":material/tune:"),
        st.Page("pages/simulator.py", title="Collapse simulator", icon=":material/cycle:"),
    ],
    "Learn": [st.Page("pages/lesson.py", title="Lesson", icon=":material/school:")],
}
page = st.navigation(pages)
mark_router()
choose_workspace()  # this session's private workspace (its id in the URL), or the shared one it opened
_, manifest = current_dataset(
    __file__, needs_real=False
)  # an empty workspace shows the demo; a damaged one is moved aside
recovery_notice()
sidebar_dataset(manifest)
page.run()
