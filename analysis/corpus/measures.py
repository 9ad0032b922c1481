"""Measures of a whole text column without a Python loop per text where numpy can do the work: the words of
each text (``len(text.split())``) and codes that are equal exactly where the texts are equal. The Data page's summary
uses them, so a million loaded samples are summarised in seconds, not minutes."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from analysis.corpus.schema import _strings

#: The characters ``str.split()`` splits on (all of Python's whitespace) and their UTF-8 bytes: one byte (a
#: lookup table) or several (matched as 2- and 3-byte keys).
_SPACES = [c for c in map(chr, range(0x3001)) if c.isspace()]
_ONE_BYTE = np.zeros(256, dtype=bool)
_ONE_BYTE[[ord(c) for c in _SPACES if ord(c) < 0x80]] = True
_MULTI_BYTE = {
    length: np.array([int.from_bytes(c.encode(), "big") for c in _SPACES if len(c.encode()) == length], dtype=np.int64)
    for length in (2, 3)
}
_LEADS = np.zeros(256, dtype=bool)
_LEADS[[c.encode()[0] for c in _SPACES if ord(c) >= 0x80]] = True
#: Strings looked at a time (their bytes and a few masks of them are in memory at once).
_WORD_BLOCK = 1 << 15


def _arrow(texts: pd.Series):
    """The column's Arrow array, or ``None`` where it is not Arrow strings."""
    if isinstance(texts.dtype, pd.StringDtype) and texts.dtype.storage == "pyarrow":
        import pyarrow as pa

        return pa.chunked_array(texts.array.__arrow_array__())
    return None


def _block_word_counts(block) -> np.ndarray:
    """Words of each string of an Arrow string array without nulls, from its UTF-8 bytes: a word starts at a
    byte that is not whitespace and follows whitespace or the start of its string."""
    import pyarrow as pa

    width = np.int64 if pa.types.is_large_string(block.type) else np.int32
    offsets = np.frombuffer(block.buffers()[1], dtype=width)[block.offset : block.offset + len(block) + 1]
    data = np.frombuffer(block.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    bounds = (offsets - offsets[0]).astype(np.int64)
    space = _ONE_BYTE[data]
    leads = np.flatnonzero(_LEADS[data])  # bytes that start a whitespace of 2 or 3 bytes (few: C2, E1, E2, E3)
    if len(leads):
        padded = np.concatenate([data, np.zeros(2, dtype=np.uint8)])
        for length, keys in _MULTI_BYTE.items():
            key = padded[leads].astype(np.int64) << (8 * (length - 1))
            for step in range(1, length):
                key |= padded[leads + step].astype(np.int64) << (8 * (length - 1 - step))
            found = leads[np.isin(key, keys) & (leads + length <= len(data))]
            for step in range(length):
                space[found + step] = True
    after_space = np.ones(len(data), dtype=bool)
    after_space[1:] = space[:-1]
    after_space[bounds[:-1][bounds[:-1] < len(data)]] = True  # each string starts after "whitespace"
    starts = np.flatnonzero(~space & after_space)  # sorted byte positions of the first bytes of words
    return np.searchsorted(starts, bounds[1:]) - np.searchsorted(starts, bounds[:-1])


def word_counts(texts: pd.Series) -> pd.Series:
    """The number of words of each text, as ``len(text.split())`` counts them (runs of anything but Python's
    whitespace), counted on the UTF-8 bytes with numpy for a column of Arrow strings."""
    import pyarrow as pa

    array = _arrow(texts)
    if (
        array is None
        or array.null_count
        or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type))
    ):
        return texts.str.split().str.len()
    counts = [
        _block_word_counts(chunk.slice(start, _WORD_BLOCK))
        for chunk in array.chunks
        for start in range(0, len(chunk), _WORD_BLOCK)
    ]
    values = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    return pd.Series(values.astype(np.int64), index=texts.index, name=texts.name)


def text_codes(texts: pd.Series) -> np.ndarray:
    """An integer per text, equal exactly where the texts are equal: the SHA-1 of each text, numbered (two
    different texts would share a code only on a SHA-1 collision). One hash per text, the column read a block
    at a time: the texts are never copied whole, unlike a dictionary of them."""
    if not len(texts):
        return np.zeros(0, dtype=np.int64)
    sha1 = hashlib.sha1
    digests = b"".join(sha1(str(text).encode("utf-8", "surrogatepass")).digest() for text in _strings(texts))
    keys = np.frombuffer(digests, dtype=[("head", ">u8"), ("middle", ">u8"), ("tail", ">u4")])
    return np.unique(keys, return_inverse=True)[1].ravel().astype(np.int64)
