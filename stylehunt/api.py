"""Top-level entry points: the engine's functions, accepting preset references as well as objects.

References (``"sd3-medium/golden-hour"``, ``"hf-hub:owner/repo"``, a file path) become `stylehunt.Preset`
objects here and go to `stylehunt.engine`, which knows nothing of files or names (the guider is the
other front end that resolves references for the engine).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Sequence, Union

from . import engine
from .registry import Preset, load_preset
from .registry.preset import preset_items

PresetLike = Union[Preset, str, "os.PathLike[str]"]

__all__ = ["apply", "applied", "remove", "get_applied", "resolve_presets"]


def resolve_presets(presets: PresetLike | Sequence[PresetLike]) -> list[Preset]:
    """Turn a preset, a reference, or a list mixing both into a list of `Preset`."""
    return [load_preset(item) if isinstance(item, (str, os.PathLike)) else item for item in preset_items(presets)]


def apply(pipe: Any, presets: PresetLike | Sequence[PresetLike], **kwargs: Any) -> None:
    """Guide ``pipe`` with presets or preset references; see `stylehunt.engine.apply`.

    >>> import stylehunt
    >>> from stylehunt.tiny import load_tiny_pipeline
    >>> pipe = load_tiny_pipeline("sd3")
    >>> stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 1), (1, 3)], strength=0.5), scale=3.0)
    >>> stylehunt.get_applied(pipe).strengths
    (0.5,)
    >>> stylehunt.remove(pipe)
    >>> stylehunt.get_applied(pipe) is None
    True
    """
    engine.apply(pipe, resolve_presets(presets), **kwargs)


@contextlib.contextmanager
def applied(pipe: Any, presets: PresetLike | Sequence[PresetLike], **kwargs: Any) -> Iterator[None]:
    """Scoped `apply`: restores what was applied before when the block ends."""
    with engine.applied(pipe, resolve_presets(presets), **kwargs):
        yield


remove = engine.remove
get_applied = engine.get_applied
