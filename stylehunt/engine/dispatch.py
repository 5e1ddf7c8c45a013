"""Perturbation at diffusers' attention dispatch: every backend of its registry, wrapped while guidance is installed.

`acquire` / `release` (counted) wrap and unwrap the backends; `refresh` wraps one registered meanwhile.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

__all__ = ["ACTIVE", "acquire", "release", "refresh", "parallel_config_problem"]

class _Active(threading.local):
    #: The mix of the perturbed attention call in progress in this thread (``None`` outside one).
    #: Duck-typed: an object with ``at_dispatch(backend_fn, args, kwargs)`` and a ``dispatching`` flag.
    mix: Any = None


#: Per thread, not a ContextVar: torch.compile (fullgraph) traces attribute writes on a thread-local
#: but refuses ``ContextVar.set`` inside a compiled transformer's forward.
ACTIVE = _Active()

_LOCK = threading.RLock()
_users = 0
_wrapped: dict[Any, tuple[Callable, Callable]] = {}  # backend name -> (original, our wrapper)


@functools.lru_cache(maxsize=None)
def _registry() -> tuple[Any, Any] | None:
    """``(_AttentionBackendRegistry, AttentionBackendName)``, or ``None`` for a diffusers without a dispatcher."""
    try:
        from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry
    except ImportError:  # pragma: no cover - every supported diffusers has it
        return None
    return _AttentionBackendRegistry, AttentionBackendName


def _backends() -> dict | None:
    """diffusers' backend table (name -> function), read anew each time (diffusers may rebind it)."""
    found = _registry()
    return None if found is None else found[0]._backends


def _wrap(fn: Callable) -> Callable:
    @functools.wraps(fn)  # keeps the signature: diffusers filters a backend's arguments by it
    def backend(*args: Any, **kwargs: Any) -> Any:
        mix = ACTIVE.mix
        if mix is None or mix.dispatching:  # not inside a perturbed attention call (or a nested dispatch)
            return fn(*args, **kwargs)
        return mix.at_dispatch(fn, args, kwargs)

    return backend


def _wrap_all(table: dict) -> None:
    for name, fn in list(table.items()):
        entry = _wrapped.get(name)
        if entry is not None and fn is entry[1]:
            continue
        wrapper = _wrap(fn)  # new, or replaced by someone since we wrapped it: wrap what is there now
        table[name] = wrapper
        _wrapped[name] = (fn, wrapper)


def acquire() -> None:
    """One more installed perturber: the registry's backends are wrapped while the count is above zero.

    diffusers' processors (all families but SD3) compute attention through ``dispatch_attention_fn``,
    which looks the backend function up in ``_AttentionBackendRegistry._backends`` on every call. Each
    entry of that table is replaced by a wrapper that runs the backend unchanged and then hands its
    output to the mix of the perturbed attention call in progress (`ACTIVE`, set by the perturbed
    module's forward; ``None`` elsewhere, where the wrapper only passes the call through).
    """
    global _users
    with _LOCK:
        table = _backends()
        if table is not None:
            _wrap_all(table)
        _users += 1


def release() -> None:
    """One perturber fewer; at zero every entry still holding our wrapper gets its original function back.

    When the last perturber is removed, every entry that still holds our wrapper gets its original
    function back, so the registry is exactly as it was.
    """
    global _users
    with _LOCK:
        _users = max(0, _users - 1)
        if _users:
            return
        table = _backends()
        for name, (original, wrapper) in _wrapped.items():
            if table is not None and table.get(name) is wrapper:
                table[name] = original
        _wrapped.clear()


def refresh(processor: Any) -> None:
    """Wrap again if the backend ``processor`` will dispatch to was registered (or replaced) after
    `acquire`: one table lookup per perturbed attention call."""
    found = _registry()
    if not _users or found is None:
        return
    registry, AttentionBackendName = found
    name = getattr(processor, "_attention_backend", None)
    name = registry._active_backend if name is None else name
    if not isinstance(name, AttentionBackendName):  # a plain string: the table is keyed by the enum
        try:
            name = AttentionBackendName(name)
        except ValueError:
            return  # not a diffusers backend name: the call fails in diffusers, or never dispatches
    entry = _wrapped.get(name)
    if name in registry._backends and (entry is None or registry._backends[name] is not entry[1]):
        with _LOCK:
            if _users:
                _wrap_all(registry._backends)


def parallel_config_problem(config: Any) -> str | None:
    """Why stylehunt cannot guide under diffusers' ``ParallelConfig``/``ContextParallelConfig`` ``config``
    (``None`` when it can: no parallelism). Context parallelism splits each attention call's sequence
    (ring) or heads (Ulysses) over processes, tensor parallelism shards the heads; stylehunt's head
    addresses, its one-mix-per-call check and identity="image" assume the whole call on one process.
    """
    if config is None:
        return None
    cp = getattr(config, "context_parallel_config", None)
    if cp is None and hasattr(config, "ring_degree"):
        cp = config  # a bare ContextParallelConfig
    if cp is not None:
        return (
            f"context parallelism (ContextParallelConfig, ring_degree={getattr(cp, 'ring_degree', None)}, "
            f"ulysses_degree={getattr(cp, 'ulysses_degree', None)}) is not supported"
        )
    tp = getattr(config, "tensor_parallel_config", None)
    if tp is not None:
        return f"tensor parallelism (TensorParallelConfig, tp_degree={getattr(tp, 'tp_degree', None)}) is not supported"
    return None
