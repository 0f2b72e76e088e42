"""Untrusted text made safe to show on a terminal.

Captions, credits, embedded metadata and file names come from files and web pages nobody here
wrote. Printed as they are, their control characters are commands to the terminal showing
them: ``ESC ]0;...BEL`` retitles the window, ``ESC [2J`` clears the screen, ``ESC ]8;;`` makes
a link, a carriage return writes over what a line said, and the bidirectional overrides
(U+202A-U+202E, U+2066-U+2069) show a file name's characters in another order than they are
("Trojan Source"). Every text provcat prints for people (the command line's text output and
the Markdown reports) goes through :func:`printable`, which writes such characters as escapes
(``\\x1b``, ``\\u202e``) so that they are seen and do nothing. JSON keeps the data exact:
:func:`json_printable` escapes the same characters the JSON way, which a parser reads back
as they were.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

#: C0 controls but tab and newline, DEL, the C1 controls (U+009B is a one-character CSI), and
#: the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: The same, and line breaks: for text that must stay on its line (a file name).
_UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
#: What JSON's own escaping leaves unescaped of the above (json.dumps escapes C0 itself).
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with its terminal control characters written as visible escapes.

    Args:
        text: Untrusted text.
        one_line: Escape line breaks too (tabs and newlines are kept otherwise).
    """
    return (_UNSAFE_IN_LINE if one_line else _UNSAFE).sub(_escaped, text)


def json_printable(dumped: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the control characters
    JSON leaves raw written as ``\\uXXXX`` escapes: the same data once parsed."""
    return _UNSAFE_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", dumped)


def json_indented(value: Any) -> str:
    """``value`` as ``json.dumps(value, indent=2, ensure_ascii=False, default=str)`` writes
    it (not yet :func:`json_printable`), by orjson: Python's indenting encoder is pure
    Python, about 20 times slower here, most of a listing's time at 10^6 images
    (docs/scale.md). The same text but for how floats are written, which parse back to
    the same numbers (``1e16`` where Python writes ``1e+16``). Text orjson refuses (a lone
    surrogate, from a file name that is not UTF-8) and integers past 64 bits are written by
    Python's encoder, as before."""
    try:
        dumped = orjson.dumps(value, default=_as_python_writes, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return dumped.decode("utf-8")


#: Indented by 2; keys that are not text written as text, as Python's encoder does;
#: datetimes and dataclasses given to :func:`_as_python_writes` (``str``, as before).
_ORJSON_OPTIONS = (
    orjson.OPT_INDENT_2
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _as_python_writes(value: Any) -> Any:
    """What Python's encoder makes of a value orjson does not take: a float of another
    type (NumPy's) as a float, anything else as its ``str``."""
    if isinstance(value, float):
        return float(value)
    return str(value)


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
