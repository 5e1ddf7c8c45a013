"""Living beside diffusers' hook registry: caches the engine refuses, and stateful caches reset when rows change.

diffusers' caches (``transformer.enable_cache``) are hooks on the transformer, its blocks or its
attention modules; the engine's wrappers sit inside them (`forward_patch`), so a cache sees
the whole extended batch (the pipeline's rows plus the appended perturbed rows) and takes one
caching decision for all of it: the perturbed rows are cached, reused or recomputed exactly when
the rows they are compared with are. What breaks that is listed in `REFUSED_HOOKS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UnsupportedModelError

if TYPE_CHECKING:
    import torch

__all__ = ["REFUSED_HOOKS", "check_hooks", "reset_stateful_caches"]

#: diffusers hook names the engine cannot guide through, with the reason.
REFUSED_HOOKS = {
    # FasterCache's unconditional-branch skipping reads the batch as [uncond, cond] halves and its
    # cached outputs are kept per half; the appended perturbed rows make a third part it would slice wrongly.
    "faster_cache_denoiser": "FasterCache splits the batch into unconditional and conditional halves, which the "
    "perturbed rows stylehunt appends would break",
}


def _registries(module: torch.nn.Module):
    for name, sub in module.named_modules():
        registry = getattr(sub, "_diffusers_hook", None)
        if registry is not None:
            yield name, registry


def check_hooks(transformer: torch.nn.Module) -> None:
    """Raise, naming the hook and what to do, if ``transformer`` carries a diffusers hook the engine refuses."""
    for name, registry in _registries(transformer):
        for hook in getattr(registry, "hooks", {}):
            reason = REFUSED_HOOKS.get(hook)
            if reason is not None:
                where = f"{type(transformer).__name__}.{name}" if name else type(transformer).__name__
                raise UnsupportedModelError(
                    f"{where} has diffusers' {hook!r} hook: {reason}",
                    hint="call transformer.disable_cache() before stylehunt.apply, or use another cache "
                    "(First Block Cache, MagCache, TaylorSeer, Pyramid Attention Broadcast)",
                )


def reset_stateful_caches(transformer: torch.nn.Module) -> None:
    """Start every stateful diffusers hook on ``transformer`` afresh (as diffusers does after each call).

    Called when the perturbed rows come or go between two steps of one call (a guidance interval's
    bound): a cache holding the previous step's tensors would otherwise meet a batch of another size.
    """
    for _, registry in _registries(transformer):
        # diffusers' reset also clears each state manager's cache context, which the pipeline set for
        # this very call (`with transformer.cache_context("cond")`): keep it.
        contexts = [
            (attr, attr._context)
            for hook in registry.hooks.values()
            for attr in vars(hook).values()
            if hasattr(attr, "set_context") and hasattr(attr, "_context")
        ]
        registry.reset_stateful_hooks(recurse=False)
        for manager, context in contexts:
            manager.set_context(context)
