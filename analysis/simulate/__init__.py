"""The collapse simulator, becoming a package: :mod:`analysis.simulate.engine` holds it all for now."""

from analysis.simulate.engine import *  # noqa: F403
from analysis.simulate.engine import __all__, _Vocabulary  # noqa: F401
