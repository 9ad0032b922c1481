"""The sample table: loading real and synthetic text from files, validation, load reports.

``from analysis.corpus import …`` gives the public API (moved here from the former ``corpus.py``).
"""

from analysis.corpus.samples import *  # noqa: F401,F403
from analysis.corpus.samples import __all__  # noqa: F401
