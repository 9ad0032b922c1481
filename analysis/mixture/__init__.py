"""Mixtures of real and synthetic data (being split into modules; see analysis/mixture/engine.py)."""

from analysis.mixture.engine import *  # noqa: F401,F403
from analysis.mixture.engine import __all__, _allocate  # noqa: F401
