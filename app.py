"""Collapse Lab: the entry point. A router over the pages, the session's workspace, and the sidebar's dataset card.

Start it with ``make app`` (or ``streamlit run app.py``).
"""

import streamlit as st

from pages._shared import choose_workspace, current_dataset, mark_router, recovery_notice, sidebar_dataset

st.set_page_config(page_title="Collapse Lab", page_icon="🧪", layout="wide")

pages = {
    "Data": [
        st.Page("pages/data.py", title="Data", icon="🗂️", default=True),
        st.Page("pages/generate.py", title="Generate", icon="✨"),
    ],
    "Analyse": [
        st.Page("pages/embedding_map.py", title="Embedding map", icon="🗺️"),
        st.Page("pages/tail_coverage.py", title="Tail coverage", icon="📊"),
        st.Page("pages/comparison.py", title="Method comparison", icon="📋"),
        st.Page("pages/ab_test.py", title="A/B test", icon="⚖️"),
        st.Page("pages/monitor.py", title="Monitor", icon="📈"),
    ],
    "Design": [
        st.Page("pages/mixture.py", title="Mixture designer", icon="🎛️"),
        st.Page("pages/simulator.py", title="Collapse simulator", icon="🔁"),
    ],
}
page = st.navigation(pages)
mark_router()
choose_workspace()  # this session's private workspace (its id in the URL), or the shared one it opened
_, manifest = current_dataset()  # an empty workspace shows the demo; a damaged one is moved aside
recovery_notice()
sidebar_dataset(manifest)
page.run()
