"""Every exception stylehunt raises on purpose.

All derive from :class:`StylehuntError` *and* from the stdlib class that fits (``ValueError`` for
bad values, ``TypeError`` for unsupported objects, ...), so callers can catch either. The CLI turns
any :class:`StylehuntError` into one readable line (plus ``hint`` when set) and exit code 1.
"""

from __future__ import annotations


class StylehuntError(Exception):
    """Base class. ``hint`` is an optional one-line suggestion shown by the CLI."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class InvalidPresetError(StylehuntError, ValueError):
    """A preset's content is invalid (bad heads, strength, scale, names, or file fields)."""


class HeadOutOfRangeError(InvalidPresetError):
    """A ``(layer, head)`` address does not exist in the model it is applied to."""


class UnsupportedModelError(StylehuntError, TypeError):
    """The pipeline, transformer or attention backend is not one stylehunt can guide."""


class GuidanceError(StylehuntError, ValueError):
    """Bad guidance settings (scale, strengths, identity mode, interval) or misuse of apply/remove."""


class ArchitectureMismatchError(StylehuntError, ValueError):
    """A preset was made for a different transformer architecture than the one it is applied to."""
