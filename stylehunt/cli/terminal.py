"""Text that reaches a terminal: control characters and escape sequences are shown, never obeyed.

Preset files, Hub repos and user input can carry any text; printed raw, an ANSI escape sequence
could rewrite the screen or hide a line. Every string of outside origin that the CLI prints (names,
descriptions, provenance, error messages) goes through :func:`printable`.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidi overrides/isolates
# (which reorder what is shown without showing themselves).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object, *, newlines: bool = True) -> str:
    """``text`` with every control character replaced by a visible escape (``\\x1b``, ``\\u202e``).

    >>> printable("warm\\x1b[2J style")
    'warm\\\\x1b[2J style'
    >>> printable("two\\nlines", newlines=False)
    'two\\\\nlines'
    """
    s = str(text)
    if not newlines:
        s = s.replace("\n", "\\n")
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)
