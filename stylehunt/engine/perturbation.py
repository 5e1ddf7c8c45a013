"""Attention-level perturbation: SoftPAG on selected heads of selected rows, at the attention call.

`HeadPerturber` hooks the attention modules; `PerturbedRows` rewrites one call's output;
`strength_table` combines presets into the ``(num_layers, max_heads)`` table (or one per row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..errors import GuidanceError, UnsupportedModelError
from . import dispatch
from .forward_patch import ForwardPatch, PatchStack, inner_forward
from .heads import HeadGrid, LayerInfo, attention_modules
from .preset_type import PresetLike


__all__ = [
    "strength_table",
    "active_layers",
    "heads_by_layer",
    "PerturbedRows",
    "HeadPerturber",
]

# --------------------------------------------------------------------------------------------------
# Strength tables
# --------------------------------------------------------------------------------------------------


def strength_table(grid: HeadGrid, presets: Sequence[PresetLike], strengths: Sequence[float]) -> torch.Tensor:
    """Combine presets into one ``(num_layers, max_heads)`` table of SoftPAG strengths.

    A head in several presets gets ``1 - prod(1 - u_i)``: SoftPAG applied once per preset.
    """
    max_heads = max(grid.heads_per_layer)
    keep = torch.ones(grid.num_layers, max_heads, dtype=torch.float64)
    for preset, u in zip(presets, strengths):
        for layer, head in preset.heads:
            keep[layer, head] *= 1.0 - u
    return (1.0 - keep).to(torch.float32)


def active_layers(table: torch.Tensor) -> list[bool]:
    """Which layers have any head with a strength > 0, for a 2-D or per-row 3-D table."""
    return (table.reshape(-1, *table.shape[-2:]).amax(dim=(0, 2)) > 0).tolist()


def heads_by_layer(table: torch.Tensor) -> dict[int, torch.Tensor]:
    """Layer -> the heads with any strength > 0 in a 2-D or per-row 3-D (CPU) table."""
    active = table.reshape(-1, *table.shape[-2:]).amax(dim=0) > 0  # (layers, heads), on the CPU
    return {layer: torch.nonzero(row).flatten() for layer, row in enumerate(active) if row.any()}


# --------------------------------------------------------------------------------------------------
# The SDPA rewrite
# --------------------------------------------------------------------------------------------------


@dataclass
class PerturbedRows:
    """Which rows of the current forward are perturbed, and how strongly.

    ``O' = (1-u) O + u V`` (joint identity; ``I V = V``, so the N x N map is never formed) or
    ``O' = (1-u) O + u O_img`` (image identity: image queries see only their own image key plus all
    text keys, text rows untouched).
    """

    start: int  # perturbed rows are start .. start + table.shape[0]
    table: torch.Tensor  # (rows, num_layers, max_heads), float32, on the model's device
    text_len: int  # text tokens in the joint sequence (for identity="image")
    heads: dict[int, torch.Tensor]  # layer -> heads with any strength > 0 (CPU; no device sync per layer)


class _SDPAMix(TorchFunctionMode):
    """Rewrites the output of one attention call for perturbed rows and heads: at torch's
    ``F.scaled_dot_product_attention`` (processors that call it directly) or at a diffusers backend."""

    def __init__(self, layer: LayerInfo, rows: PerturbedRows, identity: str):
        super().__init__()
        self.layer = layer
        self.rows = rows
        self.identity = identity
        self.calls = 0  # attention outputs mixed: the module wrapper requires exactly one
        self.dispatching = False  # inside a diffusers backend: its own SDPA call is not mixed again

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is F.scaled_dot_product_attention and not self.dispatching:
            self.calls += 1
            out = self._mix(out, *_sdpa_arguments(*args, **kwargs))
        return out

    def at_dispatch(self, backend, args, kwargs):
        """Run a diffusers attention backend, then mix its output (called by `dispatch`'s wrapper).

        Backends take and return ``(batch, tokens, heads, head_dim)``; the mix works on
        ``(batch, heads, tokens, head_dim)`` views of the same tensors. A ``_native_*`` backend calls
        torch's SDPA inside: ``dispatching`` keeps that call from being mixed a second time.
        """
        problem = dispatch.parallel_config_problem(kwargs.get("_parallel_config"))
        if problem is not None:
            raise UnsupportedModelError(
                f"{self.layer.module_name}: {problem} by stylehunt",
                hint="run the pipeline without enable_parallelism()/parallel_config while guided",
            )
        self.dispatching = True
        try:
            out = backend(*args, **kwargs)
        finally:
            self.dispatching = False
        if not torch.is_tensor(out):  # (out, lse): only asked for inside context parallelism
            raise UnsupportedModelError(
                f"{self.layer.module_name}: attention backend {getattr(backend, '__name__', backend)} returned "
                f"{type(out).__name__}, not a tensor; stylehunt mixes one attention output per call"
            )
        self.calls += 1
        query, key, value, attn_mask, scale = _sdpa_arguments(*args, **kwargs)
        t = lambda x: x.transpose(1, 2)  # noqa: E731
        return t(self._mix(t(out), t(query), t(key), t(value), attn_mask, scale))

    def _mix(self, out, query, key, value, attn_mask, scale):
        layer, rows = self.layer, self.rows
        heads = rows.heads.get(layer.index)
        if heads is None or (self.identity == "image" and layer.kind == "text"):
            return out  # the image identity changes what image queries see; a text-only attention has none
        heads = heads.to(out.device)
        u = rows.table[:, layer.index, : layer.heads]  # (R, H)
        if layer.query_runs and value.dim() == out.dim() and value.shape[-2] > out.shape[-2]:
            # a run of queries that are the last keys of this call (a cached prefix or earlier segments
            # before them): query i's own key is key n_keys - n_queries + i
            value = value[..., value.shape[-2] - out.shape[-2] :, :]
        if out.shape[1] != layer.heads or value.shape[-3:-1] != out.shape[-3:-1]:  # (heads, tokens): no GQA
            raise UnsupportedModelError(
                f"unexpected attention layout in {layer.module_name}: output {tuple(out.shape)}, value "
                f"{tuple(value.shape)}; expected (batch, {layer.heads} heads, tokens, head_dim) self-attention"
            )
        rows_ = slice(rows.start, rows.start + u.shape[0])
        w = u[:, heads].to(out.dtype)[:, :, None, None]  # (R, Hs, 1, 1)
        all_heads = heads.numel() == layer.heads
        if torch.is_grad_enabled():
            out = out.clone()  # SDPA's backward needs its own output untouched
        # The perturbed rows of `out`, restricted to the selected heads: a view when every head is
        # selected (written in place), else a copy that is scattered back below.
        o = out[rows_] if all_heads else out[rows_].index_select(1, heads)
        pick = (lambda x: x[rows_]) if all_heads else (lambda x: x[rows_].index_select(1, heads))
        if self.identity == "joint" or not layer.has_text:
            o.lerp_(pick(value), w)
        else:
            if attn_mask is not None:
                raise UnsupportedModelError(
                    f"identity='image' does not support attention masks (in {layer.module_name}); "
                    "use identity='joint'"
                )
            self._image_identity_(o, pick(query), pick(key), pick(value), w, scale)
        if not all_heads:
            out[rows_] = out[rows_].index_copy(1, heads, o)
        return out

    def _image_identity_(self, o, q, k, v, w, scale):
        """In place on ``o``: image queries attend to {own image key} + all text keys; text rows unchanged.

        Per chunk of image queries: ``lse`` of the text logits, ``text_out = softmax(text) V_text``,
        and the self key enters as ``p_self = sigmoid(self_logit - lse)``, so the softmax over
        {self} + text is ``p_self * v_self + (1 - p_self) * text_out``. Chunks keep the logits no
        larger than one row of ``q``: the (image x text) map is never formed whole.
        """
        n, d = q.shape[-2], q.shape[-1]
        t = self.rows.text_len
        if not 0 < t < n:
            raise GuidanceError(f"cannot locate {t} text tokens in a joint sequence of {n} tokens")
        img = range(0, n - t) if self.layer.kind == "image_text" else range(t, n)
        txt = slice(n - t, n) if self.layer.kind == "image_text" else slice(0, t)
        scale = 1.0 / math.sqrt(d) if scale is None else scale
        acc = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
        k_txt = k[..., txt, :].to(acc).transpose(-1, -2)
        v_txt = v[..., txt, :].to(acc)
        chunk = max(1, (n * d) // t)
        for s in range(img.start, img.stop, chunk):
            e = min(s + chunk, img.stop)
            q_c = q[..., s:e, :].to(acc)
            logits = torch.matmul(q_c, k_txt).mul_(scale)  # (R, H, c, Nt)
            lse = torch.logsumexp(logits, dim=-1, keepdim=True)
            text_out = torch.matmul(logits.sub_(lse).exp_(), v_txt)
            p_self = torch.sigmoid((q_c * k[..., s:e, :].to(acc)).sum(-1, keepdim=True).mul_(scale).sub_(lse))
            pag = torch.lerp(text_out, v[..., s:e, :].to(acc), p_self)
            o[..., s:e, :].lerp_(pag.to(o.dtype), w)


def _sdpa_arguments(query=None, key=None, value=None, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
    return query, key, value, attn_mask, scale


# --------------------------------------------------------------------------------------------------
# The attention-side hooks
# --------------------------------------------------------------------------------------------------


class HeadPerturber:
    """The attention-side hooks: while ``rows`` is set, perturbed rows/heads are rewritten at SDPA.

    Each attention module that has a selected head gets an instance-level ``forward`` (a
    `forward_patch.ForwardPatch`). While a perturbed forward runs, that forward enters a
    `torch.overrides.TorchFunctionMode` and marks itself as the attention call in progress for
    diffusers' dispatch (`dispatch`), so the module's own attention runs unchanged, through torch's
    ``scaled_dot_product_attention`` or any diffusers attention backend, and its output (exactly once
    per call) is rewritten for the perturbed rows and heads. Everything the processor does before SDPA
    (qk-norm, RoPE, ...) is kept because it is the processor's own code that runs.
    """

    def __init__(self, transformer: torch.nn.Module, grid: HeadGrid, table: torch.Tensor, identity: str):
        self.transformer = transformer
        self.grid = grid
        self.table = table
        self.identity = identity
        self.rows: PerturbedRows | None = None  # set only while a perturbed forward runs
        self.patches = PatchStack()
        self._dispatch = False  # holds a dispatch.acquire() (the registry's backends wrapped)

    def install(self) -> None:
        modules = attention_modules(self.transformer)
        active = active_layers(self.table)
        try:
            if not self._dispatch:
                dispatch.acquire()
                self._dispatch = True
            for layer in self.grid.layers:
                if active[layer.index]:
                    module = modules[layer.index]
                    self.patches.append(ForwardPatch(module, self._wrapper(layer, module)))
        except BaseException:
            self.uninstall()
            raise

    def uninstall(self) -> None:
        self.patches.restore()
        if self._dispatch:
            self._dispatch = False
            dispatch.release()

    def _wrapper(self, layer: LayerInfo, module: torch.nn.Module):
        inner = inner_forward(module)  # inside any offload/cache hook already on the module

        def forward(*args, **kwargs):
            rows = self.rows
            if rows is None:
                return inner(*args, **kwargs)
            mode = _SDPAMix(layer, rows, self.identity)
            dispatch.refresh(getattr(module, "processor", None))
            previous, dispatch.ACTIVE.mix = dispatch.ACTIVE.mix, mode
            try:
                with mode:
                    out = inner(*args, **kwargs)
            finally:
                dispatch.ACTIVE.mix = previous
            if mode.calls != 1 and not (layer.query_runs and mode.calls > 1):
                raise UnsupportedModelError(
                    f"{layer.module_name} made {mode.calls} calls to torch's scaled_dot_product_attention or "
                    f"diffusers' attention dispatch (expected 1) with processor "
                    f"{type(getattr(module, 'processor', None)).__name__}: stylehunt perturbs heads at that call, "
                    "so this processor is not supported",
                    hint="use the default processor (transformer.set_default_attn_processor())",
                )
            return out

        return forward
