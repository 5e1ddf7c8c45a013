"""Instance-level method replacement with an exact way back.

The engine hooks a stock model by setting ``module.forward`` on the *instance* (and, for families
whose guidance is added at the scheduler, ``scheduler.step``); removing the attribute (or putting
back the one that was there, e.g. an accelerate offload hook) makes the object exactly what it
was, so nothing of ours remains after :func:`stylehunt.remove`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import GuidanceError

if TYPE_CHECKING:
    import torch

__all__ = ["ForwardPatch", "PatchStack"]

_MISSING = object()


class ForwardPatch:
    """Replace ``module.<method>`` (``forward`` by default) by an instance attribute; ``restore`` puts
    back exactly what was there."""

    def __init__(self, module: torch.nn.Module | Any, wrapper: Callable[..., Any], method: str = "forward"):
        self.module = module
        self.method = method
        self.previous = module.__dict__.get(method, _MISSING)
        self.inner = getattr(module, method)  # what the wrapper calls: an earlier instance wrapper or the class's
        self.wrapper = wrapper
        setattr(module, method, wrapper)

    def restore(self) -> None:
        current = self.module.__dict__.get(self.method, _MISSING)
        if current is not self.wrapper:
            raise GuidanceError(
                f"{type(self.module).__name__}.{self.method} was wrapped again by something else after stylehunt.apply "
                "(e.g. enable_model_cpu_offload or a cache hook); remove that first, then stylehunt.remove()"
            )
        if self.previous is _MISSING:
            delattr(self.module, self.method)
        else:
            setattr(self.module, self.method, self.previous)


class PatchStack(list):
    """Patches installed together; :meth:`restore` undoes them newest first (safe to call twice)."""

    def restore(self) -> None:
        while self:
            self[-1].restore()
            self.pop()
