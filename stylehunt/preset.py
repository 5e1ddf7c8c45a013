"""The in-memory preset: a validated set of attention heads plus default strength and scale."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import InvalidPresetError

__all__ = ["Preset"]


def _check_unit_interval(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidPresetError(f"Expected `{what}` to be a number between 0.0 and 1.0, but got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise InvalidPresetError(f"Expected `{what}` to be between 0.0 and 1.0, but got {value}")
    return float(value)


def _check_scale(value: Any, what: str = "scale") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidPresetError(f"Expected `{what}` to be a finite number >= 0, but got {value!r}")
    if value < 0:
        raise InvalidPresetError(f"Expected `{what}` to be >= 0, but got {value}")
    return float(value)


def _normalise_heads(heads: Iterable[Any]) -> tuple[tuple[int, int], ...]:
    if isinstance(heads, (str, bytes)):
        raise InvalidPresetError(f"Expected `heads` to be a list of (layer, head) pairs, but got {heads!r}")
    out: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, item in enumerate(heads):
        if (
            isinstance(item, (str, bytes))
            or not hasattr(item, "__len__")
            or len(item) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in item)
        ):
            raise InvalidPresetError(f"heads[{i}]: expected a (layer, head) pair of integers, but got {item!r}")
        layer, head = int(item[0]), int(item[1])
        if layer < 0 or head < 0:
            raise InvalidPresetError(f"heads[{i}]: layer and head are 0-based and must be >= 0, but got {item!r}")
        if (layer, head) in seen:
            raise InvalidPresetError(f"heads[{i}]: duplicate head {(layer, head)}; each head may appear once")
        seen.add((layer, head))
        out.append((layer, head))
    if not out:
        raise InvalidPresetError("Expected `heads` to name at least one (layer, head) pair, but got an empty list")
    return tuple(out)


@dataclass(frozen=True)
class Preset:
    """A set of attention heads to perturb with SoftPAG, with its default strength and scale.

    Args:
        heads: ``(layer, head)`` pairs, 0-based, in selection order (see :mod:`stylehunt.heads`
            for the addressing scheme).
        strength: SoftPAG ``u`` in ``[0, 1]``: each head's attention map becomes ``(1-u) A + u I``.
        scale: default guidance scale ``w`` (used when :func:`stylehunt.apply` gets no ``scale``).
        name, version, model, description: identity and provenance; may be empty for ad-hoc presets.

    >>> Preset(heads=[(12, 5), (3, 17)], strength=0.5).heads
    ((12, 5), (3, 17))
    >>> Preset(heads=[(0, 1)], strength=1.5)
    Traceback (most recent call last):
    ...
    stylehunt.errors.InvalidPresetError: Expected `strength` to be between 0.0 and 1.0, but got 1.5
    """

    heads: tuple[tuple[int, int], ...]
    strength: float = 1.0
    scale: float = 3.0
    name: str | None = None
    version: str | None = None
    model: str | None = None
    description: str = ""
    #: architecture fingerprint (``HeadGrid.fingerprint()``) of the model the preset was made for;
    #: when set, applying to a different architecture raises ArchitectureMismatchError.
    fingerprint: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "heads", _normalise_heads(self.heads))
        object.__setattr__(self, "strength", _check_unit_interval(self.strength, "strength"))
        object.__setattr__(self, "scale", _check_scale(self.scale))

    @property
    def label(self) -> str:
        """How error messages and listings name this preset."""
        if self.name:
            return f"{self.name}@{self.version}" if self.version else self.name
        return f"<preset with {len(self.heads)} head{'s' if len(self.heads) != 1 else ''}>"
