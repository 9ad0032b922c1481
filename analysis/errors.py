"""The one base class of every error a user can cause, so the app and the CLI catch one thing.

Each module keeps its own subclass (``CorpusError``, ``GenerationError``, ...) for precise
``except`` clauses; all derive from :class:`CollapseLabError`. Its message says what is wrong,
where, and how to fix it: the app shows it with ``st.error`` and the CLI prints it and exits 3.
Anything else that escapes is a bug: the app logs it and says so, never with a traceback.
"""

from __future__ import annotations

__all__ = ["CollapseLabError"]


class CollapseLabError(Exception):
    """A problem with the user's input or setup; ``str(error)`` says what is wrong and how to fix it."""
