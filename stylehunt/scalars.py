"""What counts as a number where stylehunt takes a float: one rule for the engine and the preset.

A strength or scale computed with numpy or torch should need no ``float()``: any object with
``__float__`` counts (int, float, ``Fraction``, numpy scalars, a one-element numpy array or torch
tensor). Booleans (Python, numpy or torch: ``True`` is no strength), complex numbers, strings and
arrays of several values do not. Nothing here imports numpy or torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_real"]


def as_real(value: Any) -> float | None:
    """``float(value)`` for a real number, else ``None`` (finiteness is the caller's check).

    >>> as_real(3), as_real(True), as_real("1.0"), as_real(complex(1, 0))
    (3.0, None, None, None)
    """
    dtype = str(getattr(value, "dtype", ""))
    if isinstance(value, (bool, str, bytes, complex)) or "bool" in dtype or "complex" in dtype:
        return None
    if not hasattr(type(value), "__float__"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # an array or tensor of several values
        return None
