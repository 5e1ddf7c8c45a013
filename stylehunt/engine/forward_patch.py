"""Instance-level method replacement that survives other hooks, with an exact way back (`ForwardPatch`).

The engine hooks a stock model by replacing ``module.forward`` (and ``scheduler.step`` /
``set_timesteps``) on the instance; accelerate's and diffusers' hooks do the same.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

__all__ = ["ForwardPatch", "PatchStack", "inner_forward"]

logger = logging.getLogger(__name__)

_MISSING = object()
# The qualified names of the functions accelerate's and diffusers' hooks put on an instance (inside a partial).
_ACCELERATE = "add_hook_to_module.<locals>.new_forward"
_DIFFUSERS = "HookRegistry.register_hook.<locals>.create_new_forward.<locals>.new_forward"


class _Slot:
    """A place holding a callable: an instance attribute of a module, or a field of diffusers' hook chain."""

    def __init__(self, owner: Any, name: str, module: Any = None):
        self.owner = owner
        self.name = name
        self.module = module  # set when the slot is an attribute of the module itself

    def raw(self) -> Any:
        if self.module is not None:
            return vars(self.owner).get(self.name, _MISSING)
        return getattr(self.owner, self.name)

    def value(self) -> Any:
        return getattr(self.owner, self.name)

    def set(self, value: Any) -> None:
        # back to the class's own method: the instance attribute goes, as if it had never been set
        own = getattr(type(self.owner), self.name, None) if self.module is not None else None
        if own is not None and getattr(value, "__self__", None) is self.owner and getattr(value, "__func__", None) is own:
            vars(self.owner).pop(self.name, None)
        else:
            setattr(self.owner, self.name, value)


def _next_slot(module: Any, slot: _Slot) -> _Slot | None:
    """The slot that the hook held by ``slot`` calls, if it is accelerate's or diffusers' hook."""
    value = slot.raw()
    func = getattr(value, "func", None)  # both libraries install a functools.partial
    if not isinstance(value, functools.partial) or func is None:
        return None
    qualname = getattr(func, "__qualname__", "")
    if qualname == _ACCELERATE and "_old_forward" in vars(module):
        return _Slot(module, "_old_forward", module)
    if qualname == _DIFFUSERS and func.__closure__:
        ref = func.__closure__[0].cell_contents  # the HookFunctionReference this hook calls through
        if getattr(ref, "original_forward", None) is not None:
            return _Slot(ref, "original_forward")
        if hasattr(ref, "forward"):
            return _Slot(ref, "forward")
    return None


def _slots(module: Any, method: str) -> list[_Slot]:
    """The chain of slots from ``module.<method>`` inwards, through every hook we recognise."""
    out = [_Slot(module, method, module)]
    while len(out) < 64:  # a chain is a handful of hooks; the bound guards against a cycle
        nxt = _next_slot(module, out[-1])
        if nxt is None:
            break
        out.append(nxt)
    return out


def inner_forward(module: torch.nn.Module | Any, method: str = "forward") -> Callable[..., Any]:
    """What a `ForwardPatch` installed now on ``module.<method>`` would call: the innermost callable."""
    return _slots(module, method)[-1].value()


class ForwardPatch:
    """Put ``wrapper`` in place of ``module.<method>`` (``forward`` by default), inside any offload or
    diffusers hook already there; `restore` takes it out again wherever those hooks moved it.

    ``wrapper`` calls `inner` (the same callable `inner_forward` gave before the patch).

    accelerate's offload hooks (``forward`` -> ``_old_forward``) and diffusers' hook registry (a chain of
    ``HookFunctionReference`` slots) are removed and re-installed on their own schedule
    (``enable_model_cpu_offload`` re-installs accelerate's hooks at the end of every pipeline call). So a
    patch goes *inside* every hook of theirs it recognises, next to the class's own method: whatever they
    wrap, drop and re-wrap later, they keep calling ours.
    """

    def __init__(self, module: torch.nn.Module | Any, wrapper: Callable[..., Any], method: str = "forward"):
        self.module = module
        self.method = method
        slot = _slots(module, method)[-1]
        self.inner = slot.value()  # what the wrapper calls: the class's method or a foreign wrapper
        self.wrapper = wrapper
        self.dormant = False

        def call(*args, **kwargs):
            if self.dormant:
                return self.inner(*args, **kwargs)
            return wrapper(*args, **kwargs)

        # A module's forward stays a plain function (torch.compile traces through it); another method
        # (a scheduler's step / set_timesteps) is a _CopyAware, so that a deepcopy of the object runs its
        # own method: the LTX-2 pipelines deep-copy the scheduler for the audio latents during a call.
        call = call if method == "forward" else _CopyAware(call, self)
        # signature-reading callers (diffusers' `inspect.signature(scheduler.set_timesteps)`) see the real one
        self.call = functools.update_wrapper(call, self.inner)
        slot.set(call)

    @property
    def attached(self) -> bool:
        """Is the patch still reachable from ``module.<method>`` through the hooks we recognise?"""
        return any(slot.raw() is self.call for slot in _slots(self.module, self.method))

    def restore(self) -> bool:
        """Splice the patch out of the chain (True), or make it a pass-through where it cannot be reached (False).

        The patch is found wherever the known hooks moved it; one a foreign wrapper holds (or replaced
        and was deleted) becomes a pass-through, so removal never fails half way.
        """
        for slot in _slots(self.module, self.method):
            if slot.raw() is self.call:
                slot.set(self.inner)
                return True
        # Not reachable: something replaced module.<method> and either still calls ours from its own
        # closure or dropped it. A pass-through is exactly the unpatched method in both cases.
        self.dormant = True
        logger.debug(
            "stylehunt: %s.%s was replaced after apply; its stylehunt wrapper is now a pass-through",
            type(self.module).__name__,
            self.method,
        )
        return False


class _CopyAware:
    """A patched method that a ``copy.deepcopy`` of its object does not carry over: the copy gets the
    method the patch replaced, bound to the copy (else it would call back into the original object)."""

    def __init__(self, call: Callable[..., Any], patch: ForwardPatch):
        self._call = call
        self._patch = patch

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __deepcopy__(self, memo: dict) -> Any:
        import copy
        import types

        inner, twin = self._patch.inner, memo.get(id(self._patch.module))
        if twin is not None and getattr(inner, "__self__", None) is self._patch.module:
            return types.MethodType(inner.__func__, twin)
        return copy.deepcopy(inner, memo)


class PatchStack(list):
    """Patches installed together; `restore` undoes them newest first (safe to call twice)."""

    def restore(self) -> None:
        while self:
            self[-1].restore()
            self.pop()
