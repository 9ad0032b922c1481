"""Text files' bytes to text: the encoding (given, from a byte-order mark, or UTF-8 then Windows-1252 then
Latin-1, reported), binary files refused with a message that says why, and lines split on line breaks only."""

from __future__ import annotations

import codecs
import re

from analysis.corpus.files import SNIFF_BYTES
from analysis.corpus.schema import ACCEPTED_FORMATS, CorpusError, LoadReport

#: Byte-order marks that say the encoding, longest first (a UTF-32 LE mark starts like UTF-16 LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_as(raw: bytes, name: str, encoding: str, how: str) -> str:
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise CorpusError(
            f"{name}: cannot decode as {encoding} ({how}): {exc}. Pick the file's real encoding, "
            f"or leave the encoding unset to try UTF-8, Windows-1252 and Latin-1."
        ) from None
    return text[1:] if text.startswith("\ufeff") else text  # a byte-order mark is not text


def decode_text(raw: bytes, name: str, encoding: str | None, report: LoadReport, fmt: str = "text") -> str:
    """Decode a text file's bytes, keeping its text as written.

    A given encoding is applied first (so UTF-16 and UTF-32 load); else a byte-order mark names
    it; else UTF-8, then Windows-1252, then Latin-1 (both reported). Bytes that are not text (NUL
    bytes without an encoding that explains them, NUL characters after decoding) are refused.
    """
    if encoding:
        text = _decode_as(raw, name, encoding, "the encoding given")
        report.encoding = encoding
    else:
        bom = next((codec for mark, codec in _BOMS if raw.startswith(mark)), None)
        if bom and bom != "utf-8-sig":
            text = _decode_as(raw, name, bom, "its byte-order mark says so")
            report.encoding = bom
            report.notes.append(f"{name} starts with a {bom.upper()} byte-order mark; decoded as {bom.upper()}.")
        else:
            if b"\x00" in raw:
                raise CorpusError(_binary_message(raw, name, fmt))
            body = raw[len(codecs.BOM_UTF8) :] if bom else raw
            try:
                text = body.decode("utf-8")
                report.encoding = bom or "utf-8"
            except UnicodeDecodeError as exc:
                fallback = "cp1252"
                try:
                    text = body.decode(fallback)
                except UnicodeDecodeError:
                    fallback, text = "latin-1", body.decode("latin-1")
                report.encoding = fallback
                report.notes.append(
                    f"{name} is not valid UTF-8 (first bad byte at offset {exc.start}); decoded as "
                    f"{'Windows-1252 (cp1252)' if fallback == 'cp1252' else 'Latin-1'} instead. If characters "
                    f"look wrong, re-save the file as UTF-8 or give its encoding (encoding=, --encoding)."
                )
    nul = text.find("\x00")
    if nul >= 0:
        raise CorpusError(
            f"{name}: holds a NUL character (at character {nul:,} after decoding as {report.encoding}), so it "
            f"is not {fmt.upper()} text. Give the file's real encoding, or export the samples as text."
        )
    return text


def _binary_message(raw: bytes, name: str, fmt: str) -> str:
    return binary_message(raw[:SNIFF_BYTES], raw.find(b"\x00"), name, fmt)


def binary_message(head: bytes, offset: int, name: str, fmt: str) -> str:
    """Why a file with a NUL byte at ``offset`` is refused; ``head`` (its first bytes) tells UTF-16 apart."""
    head = head[:SNIFF_BYTES]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if len(head) >= 4 and max(even, odd) >= 0.3 * len(head) / 2 and min(even, odd) <= 0.05 * len(head) / 2:
        order = "le" if odd > even else "be"
        return (
            f"{name}: holds NUL bytes at every other position: it looks like UTF-16 text without a "
            f"byte-order mark. Load it with encoding='utf-16-{order}' (--encoding utf-16-{order}), or "
            f"re-save it as UTF-8."
        )
    return (
        f"{name}: looks binary (a NUL byte at offset {offset:,}), not {fmt.upper()} text. "
        f"Export the samples as text ({ACCEPTED_FORMATS}), or give the file's encoding if it is UTF-16 or UTF-32."
    )


#: Line breaks of a text file: only these, never the other characters str.splitlines() splits on
#: (U+2028, U+2029, U+0085, form feed, vertical tab, ...), which are text inside a line.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines split on \\n, \\r\\n and \\r only; a final line break ends the last line, it adds none."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines
