"""Collapse Lab's analysis library: load samples, embed them, measure collapse risk.

Pure Python (no Streamlit): use it from a notebook, a script or ``python -m analysis``.
In a notebook, ``import collapse_lab as cl`` gives the public API under one short name (see
collapse_lab/__init__.py and the README's *From a notebook*).
"""

__version__ = "0.1.0"
