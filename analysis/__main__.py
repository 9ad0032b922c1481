"""``python -m analysis``: see analysis/cli/__init__.py."""

import sys

from analysis.cli import main

sys.exit(main())
