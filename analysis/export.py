"""CSV for people: the bytes of every CSV download and export, safe to open in a spreadsheet.

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula, so a sample text such as ``=HYPERLINK("http://…")`` would run
when the file is opened ("CSV injection", OWASP). Every CSV this project writes for people goes
through :func:`csv_bytes`, which prefixes such text cells with a single quote ``'``, the usual
convention: the spreadsheet shows the text, not a formula. Numbers are written as they are
(``-5`` stays ``-5``). Rows end with CRLF (RFC 4180), so that a cell holding a carriage return is
quoted too: a spreadsheet would otherwise start a new row there, and a formula with it. JSONL and
Parquet are exact and are never changed; use them to read the rows back into a program.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["FORMULA_LEADS", "neutralise", "csv_bytes"]

#: A text cell starting with one of these is read as a formula by spreadsheets.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text that a spreadsheet would read as a formula.

    Anything that is not a ``str`` (numbers, missing values, dates) is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def _neutralised(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return column  # numbers and dates are never text
    values = column.astype(object).tolist()
    safe = [neutralise(v) for v in values]
    if all(a is b for a, b in zip(values, safe)):
        return column
    return pd.Series(safe, index=column.index, name=column.name, dtype=object)


def csv_bytes(table: pd.DataFrame, *, index: bool = False) -> bytes:
    """The UTF-8 CSV of ``table`` with formula-leading text cells (and headers) neutralised.

    Parameters
    ----------
    table
        Any frame; it is not modified.
    index
        Write the index as the first column (default no).

    Returns
    -------
    bytes
        ``table.to_csv(index=index, lineterminator="\\r\\n")`` encoded as UTF-8, except that every
        text cell and column name starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
        return has ``'`` before it.
    """
    safe = pd.DataFrame(
        {position: _neutralised(table.iloc[:, position]) for position in range(table.shape[1])}, index=table.index
    )
    safe.columns = [neutralise(name) for name in table.columns]
    if index:
        safe.index = table.index.map(neutralise)
        safe.index.name = neutralise(table.index.name)
    return safe.to_csv(index=index, lineterminator="\r\n").encode("utf-8")
