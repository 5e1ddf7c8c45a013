"""What the engine takes as a preset: `PresetLike`, a structural type (no import of the registry)."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

__all__ = ["PresetLike", "PRESET_ATTRIBUTES"]


class PresetLike(Protocol):
    """The attributes the engine reads from a preset; `stylehunt.Preset` has them, so does any stand-in."""

    @property
    def heads(self) -> Sequence[tuple[int, int]]: ...  # (layer, head) addresses of the head grid
    @property
    def strength(self) -> float: ...  # SoftPAG u
    @property
    def scale(self) -> float: ...  # the default guidance scale w
    @property
    def fingerprint(self) -> Mapping[str, Any] | None: ...  # HeadGrid.fingerprint() of the model it was made for
    @property
    def label(self) -> str: ...  # how messages name it
    @property
    def name(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...  # the model id it was made for


#: What the engine reads from a preset; any object that has them all is taken as one.
PRESET_ATTRIBUTES = ("heads", "strength", "scale", "fingerprint", "label", "name", "model")
