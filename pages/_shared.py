"""What every page shares: errors shown as messages, and user text made safe for markdown.

The pages' other shared parts live by job: :mod:`pages._workspace` (which workspace, the current dataset),
:mod:`pages._compute` (the cached work of the analysis pages), :mod:`pages._controls` (URL state, pickers,
downloads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import streamlit as st

from analysis.errors import CollapseLabError

log = logging.getLogger("collapse_lab")


@contextlib.contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Show any error raised inside as an ``st.error`` message, never as a traceback.

    A :class:`~analysis.errors.CollapseLabError` is written for the user and shown as it is; any
    other error is a bug: logged with its traceback, and the user is told so.
    """
    try:
        yield
    except CollapseLabError as exc:  # messages name files and sets: shown as plain text
        st.error(plain(exc), icon=":material/error:")
    except Exception as exc:  # the app never shows a traceback; the log keeps it
        log.exception("%s failed", action)
        st.error(
            plain(
                f"{action} failed: {type(exc).__name__}: {exc}. Nothing you loaded was lost; "
                f"the details are in the log of the terminal running the app."
            ),
            icon=":material/error:",
        )


#: Characters that Streamlit's markdown reads as syntax anywhere in a line: emphasis, code, links and
#: images, HTML, LaTeX ($), coloured text (:red[…], a directive: its brackets), tables,
#: strikethrough, entities, autolinked URLs and e-mail addresses (/ and @). Each is shown as itself
#: when escaped with a backslash.
_MARKDOWN_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>$~|!&@^/"})


def plain(text: Any) -> str:
    """User-given text (a file, set, subset, method or label name) made safe to put in markdown.

    ``st.markdown``, ``st.caption``, alerts, toasts and widget labels read markdown; a name such as
    ``:red[x]``, ``$$x$$`` or ``[link](http://e.x)`` would be coloured, typeset or linked. Escaped
    here, it shows exactly as written. Line breaks become spaces (a name is one line), and what
    only starts a block at the beginning of a line (``#``, ``-``, ``+``, ``=``, ``1.``) is escaped
    there; ``www.`` is broken so that it is not autolinked. (Emoji shortcodes such as ``:smile:``
    are the one thing a backslash cannot stop; they show an emoji, never markup or a link.)
    """
    import re

    escaped = " ".join(str(text).splitlines()).translate(_MARKDOWN_ESCAPES)
    escaped = re.sub(r"^([#>+=-])|^(\d+)([.)])", lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", escaped)
    return re.sub(r"(?i)\b(www)\.", r"\1\\.", escaped)
