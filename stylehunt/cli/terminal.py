"""Text that reaches a terminal: control characters and escape sequences are shown, never obeyed.

Preset files, Hub repos and user input can carry any text; printed raw, an ANSI escape sequence
could rewrite the screen or hide a line, a bidi override reorders what is shown without showing
itself, and a lone surrogate (valid in JSON as ``"\\ud800"``) cannot even be encoded for output.
Every string of outside origin that the CLI prints (names, descriptions, provenance, paths, error
messages) goes through `printable`. JSON output needs nothing more: ``json.dumps`` with its
default ``ensure_ascii=True`` writes every non-ASCII and control character as a ``\\uXXXX`` escape.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls except tab and newline, DEL, C1 controls (ESC, CSI, NEL, ...); the bidi marks,
# embeddings, overrides and isolates (U+061C, U+200E-F, U+202A-E, U+2066-9); invisible characters
# that hide text (zero-width space, word joiner and invisible operators, BOM, interlinear
# annotation); the Unicode line and paragraph separators; and lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)


def printable(text: object, *, newlines: bool = True) -> str:
    """``text`` with every control character replaced by a visible escape (``\\x1b``, ``\\u202e``).

    With ``newlines=False`` a newline is escaped too, so the text stays on its line (a value in a
    table or a one-line message cannot fake the lines after it).

    >>> printable("warm\\x1b[2J style")
    'warm\\\\x1b[2J style'
    >>> printable("two\\nlines", newlines=False)
    'two\\\\nlines'
    >>> printable("abc\\u202edef")
    'abc\\\\u202edef'
    """
    s = str(text)
    if not newlines:
        s = s.replace("\n", "\\n")
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)
