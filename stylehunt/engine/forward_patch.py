"""Instance-level ``forward`` replacement with an exact way back.

The engine hooks a stock model by setting ``module.forward`` on the *instance*; removing the
attribute (or putting back the one that was there, e.g. an accelerate offload hook) makes the
module exactly what it was, so nothing of ours remains after :func:`stylehunt.remove`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import GuidanceError

if TYPE_CHECKING:
    import torch

__all__ = ["ForwardPatch"]

_MISSING = object()


class ForwardPatch:
    """Replace ``module.forward`` by an instance attribute; ``restore`` puts back exactly what was there."""

    def __init__(self, module: torch.nn.Module, wrapper: Callable[..., Any]):
        self.module = module
        self.previous = module.__dict__.get("forward", _MISSING)
        self.inner = module.forward  # what the wrapper calls: an earlier instance wrapper or the class forward
        self.wrapper = wrapper
        module.forward = wrapper

    def restore(self) -> None:
        current = self.module.__dict__.get("forward", _MISSING)
        if current is not self.wrapper:
            raise GuidanceError(
                f"{type(self.module).__name__}.forward was wrapped again by something else after stylehunt.apply "
                "(e.g. enable_model_cpu_offload or a cache hook); remove that first, then stylehunt.remove()"
            )
        if self.previous is _MISSING:
            del self.module.forward
        else:
            self.module.forward = self.previous
