"""Collapse Lab's analysis library: load samples, embed them, measure collapse risk.

Pure Python (no Streamlit): use it from a notebook, a script or ``python -m analysis``.
"""

__version__ = "0.1.0"
