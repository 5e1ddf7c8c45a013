"""Head-level SoftPAG guidance on stock diffusers pipelines.

How it works (see ``docs/engine.md`` for the full story):

* **Perturbation.** Each targeted attention module gets an instance-level ``forward`` wrapper. While
  a guided forward runs, the wrapper enters a :class:`torch.overrides.TorchFunctionMode` that lets the
  module's own ``scaled_dot_product_attention`` call run unchanged and then rewrites the output of the
  perturbed rows and heads: ``O' = (1-u) O + u V`` (joint identity; ``I V = V``, so the N x N map is
  never formed) or ``O' = (1-u) O + u O_img`` (image identity: image queries see only their own image
  key plus all text keys, text rows untouched). Everything the processor does before SDPA (qk-norm,
  RoPE, ...) is kept because it is the processor's own code that runs.
* **Guidance.** The transformer gets an instance-level ``forward`` wrapper. On the first call of a
  denoising step it appends one perturbed copy of every conditional row to the batch (one extra row
  per conditional row, whatever the number of presets), runs one batched forward, and adds
  ``w * (eps_c - eps_pert)`` to the conditional rows *and* to their unconditional partners. The
  pipeline's own CFG is an affine combination whose weights sum to 1, so the result is exactly
  ``eps_cfg + w (eps_c - eps_pert)``. Later calls in the same step (FLUX's true-CFG negative pass,
  SD3's skip-layer pass) get the same ``w * delta`` added, which keeps every such combination exact.
* **Removal** deletes the instance attributes (or restores the ones that were there), so the
  modules fall back to their class ``forward``: nothing of ours remains.

The engine knows nothing of files, the registry or the search; it takes :class:`~stylehunt.Preset`
objects or a raw strength table.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..errors import ArchitectureMismatchError, GuidanceError, UnsupportedModelError
from .heads import HeadGrid, LayerInfo, transformer_of, attention_modules, head_grid
from ..registry.preset import Preset

__all__ = [
    "apply",
    "apply_table",
    "perturbed",
    "remove",
    "applied",
    "get_applied",
    "AppliedGuidance",
    "strength_table",
    "SUPPORTED_PIPELINES",
    "IDENTITY_MODES",
]

logger = logging.getLogger(__name__)

#: Pipeline classes (and their subclasses) ``apply`` accepts.
SUPPORTED_PIPELINES = (
    "StableDiffusion3Pipeline",
    "StableDiffusion3Img2ImgPipeline",
    "StableDiffusion3InpaintPipeline",
    "FluxPipeline",
    "FluxImg2ImgPipeline",
    "FluxInpaintPipeline",
)

IDENTITY_MODES = ("joint", "image")

# Transformer forward arguments that carry the batch on dim 0, per transformer class.
_BATCHED = {
    "SD3Transformer2DModel": ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"),
    "FluxTransformer2DModel": ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "guidance"),
}
_BATCHED_LISTS = {
    "SD3Transformer2DModel": ("block_controlnet_hidden_states",),
    "FluxTransformer2DModel": ("controlnet_block_samples", "controlnet_single_block_samples"),
}
_NATIVE_BACKENDS = (None, "native")
_MISSING = object()


# --------------------------------------------------------------------------------------------------
# Strength tables
# --------------------------------------------------------------------------------------------------


def strength_table(grid: HeadGrid, presets: Sequence[Preset], strengths: Sequence[float]) -> torch.Tensor:
    """Combine presets into one ``(num_layers, max_heads)`` table of SoftPAG strengths.

    A head in several presets gets ``1 - prod(1 - u_i)``: SoftPAG applied once per preset.
    """
    max_heads = max(grid.heads_per_layer)
    keep = torch.ones(grid.num_layers, max_heads, dtype=torch.float64)
    for preset, u in zip(presets, strengths):
        for layer, head in preset.heads:
            keep[layer, head] *= 1.0 - u
    return (1.0 - keep).to(torch.float32)


# --------------------------------------------------------------------------------------------------
# Per-forward runtime state shared by the transformer hook and the attention hooks
# --------------------------------------------------------------------------------------------------


@dataclass
class _Rows:
    """Which rows of the current forward are perturbed, and how strongly."""

    start: int  # perturbed rows are start .. start + table.shape[0]
    table: torch.Tensor  # (rows, num_layers, max_heads), float32, on the model's device
    text_len: int  # text tokens in the joint sequence (for identity="image")
    heads: dict[int, torch.Tensor]  # layer -> heads with any strength > 0 (CPU; no device sync per layer)


def _heads_by_layer(table: torch.Tensor) -> dict[int, torch.Tensor]:
    active = table.reshape(-1, *table.shape[-2:]).amax(dim=0) > 0  # (layers, heads), on the CPU
    return {layer: torch.nonzero(row).flatten() for layer, row in enumerate(active) if row.any()}


class _SDPAMix(TorchFunctionMode):
    """Rewrites the output of ``F.scaled_dot_product_attention`` for perturbed rows and heads."""

    def __init__(self, layer: LayerInfo, rows: _Rows, identity: str):
        super().__init__()
        self.layer = layer
        self.rows = rows
        self.identity = identity
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is F.scaled_dot_product_attention:
            self.calls += 1
            out = self._mix(out, *_sdpa_arguments(*args, **kwargs))
        return out

    def _mix(self, out, query, key, value, attn_mask, scale):
        layer, rows = self.layer, self.rows
        heads = rows.heads.get(layer.index)
        if heads is None:
            return out
        heads = heads.to(out.device)
        u = rows.table[:, layer.index, : layer.heads]  # (R, H)
        if out.shape[1] != layer.heads or value.shape[-2] != out.shape[-2]:
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
# Hooks (instance-level forward wrappers) and their exact removal
# --------------------------------------------------------------------------------------------------


class _ForwardPatch:
    """Replace ``module.forward`` by an instance attribute; ``restore`` puts back exactly what was there."""

    def __init__(self, module: torch.nn.Module, wrapper):
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


@dataclass(frozen=True)
class AppliedGuidance:
    """What is applied to a pipeline (returned by :func:`get_applied`)."""

    presets: tuple[Preset, ...]
    strengths: tuple[float, ...]
    scale: float
    identity: str
    start: float
    stop: float
    table: torch.Tensor = field(repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return [p.label for p in self.presets]


class _HeadPerturber:
    """The attention-side hooks: while ``rows`` is set, perturbed rows/heads are rewritten at SDPA."""

    def __init__(self, transformer: torch.nn.Module, grid: HeadGrid, table: torch.Tensor, identity: str):
        self.transformer = transformer
        self.grid = grid
        self.table = table
        self.identity = identity
        self.rows: _Rows | None = None  # set only while a perturbed forward runs
        self.patches: list[_ForwardPatch] = []

    def install(self) -> None:
        modules = attention_modules(self.transformer)
        active = _active_layers(self.table)
        try:
            for layer in self.grid.layers:
                if active[layer.index]:
                    module = modules[layer.index]
                    self.patches.append(_ForwardPatch(module, self._wrapper(layer, module)))
        except BaseException:
            self.uninstall()
            raise

    def uninstall(self) -> None:
        while self.patches:
            self.patches[-1].restore()
            self.patches.pop()

    def _wrapper(self, layer: LayerInfo, module: torch.nn.Module):
        inner = module.forward

        def forward(*args, **kwargs):
            rows = self.rows
            if rows is None:
                return inner(*args, **kwargs)
            mode = _SDPAMix(layer, rows, self.identity)
            with mode:
                out = inner(*args, **kwargs)
            if mode.calls != 1:
                raise UnsupportedModelError(
                    f"{layer.module_name} made {mode.calls} calls to torch's scaled_dot_product_attention "
                    f"(expected 1) with processor {type(getattr(module, 'processor', None)).__name__}: "
                    "stylehunt perturbs heads at that call, so this attention backend/processor is not supported",
                    hint="use the default processor (transformer.set_default_attn_processor()) or "
                    "transformer.set_attention_backend('native')",
                )
            return out

        return forward


class _Guidance:
    """Everything stylehunt attached to one pipeline: the attention hooks plus the transformer hook."""

    def __init__(self, pipe: Any, grid: HeadGrid, config: AppliedGuidance):
        self.pipe_ref = weakref.ref(pipe)
        self.transformer = pipe.transformer
        self.family = type(self.transformer).__name__
        self.grid = grid
        self.config = config
        self.perturber = _HeadPerturber(self.transformer, grid, config.table, config.identity)
        self.delta: torch.Tensor | None = None  # eps_c - eps_pert of the current step
        self.step_key: tuple[Any, Any] | None = None
        self.signature = inspect.signature(type(self.transformer).forward)
        self.patch: _ForwardPatch | None = None
        self.any_active = any(_active_layers(config.table))
        self.heads = _heads_by_layer(config.table)

    def install(self) -> None:
        self.perturber.install()
        try:
            self.patch = _ForwardPatch(self.transformer, self._transformer_forward)
        except BaseException:
            self.perturber.uninstall()
            raise

    def uninstall(self) -> None:
        if self.patch is not None:
            self.patch.restore()
            self.patch = None
        self.perturber.uninstall()

    # -- transformer --------------------------------------------------------------------------------
    def _new_step(self) -> tuple[bool, float]:
        """Is this the first transformer call of a denoising step? And the step's place in the schedule.

        ``set_timesteps`` makes a new ``timesteps`` tensor for every pipeline call and ``step``
        advances ``step_index``, so the pair identifies one step; the tensor is kept (not its id)
        so that its identity cannot be reused.
        """
        scheduler = self.pipe_ref().scheduler
        timesteps, step_index = scheduler.timesteps, scheduler.step_index
        new = self.step_key is None or self.step_key[0] is not timesteps or self.step_key[1] != step_index
        self.step_key = (timesteps, step_index)
        index = step_index if step_index is not None else (getattr(scheduler, "begin_index", None) or 0)
        return new, index / max(len(timesteps), 1)

    def _cond_rows(self, batch: int) -> tuple[slice, slice | None]:
        """(conditional rows, their unconditional partners) of the pipeline's own batch."""
        pipe = self.pipe_ref()
        if self.family == "SD3Transformer2DModel":
            try:
                cfg = bool(pipe.do_classifier_free_guidance)
            except AttributeError as e:
                raise GuidanceError(
                    "the guided transformer was called outside a pipeline call; call the pipeline instead"
                ) from e
            if cfg:
                half = batch // 2
                return slice(half, batch), slice(0, half)
        return slice(0, batch), None

    def _transformer_forward(self, *args, **kwargs):
        inner = self.patch.inner
        bound = self.signature.bind_partial(self.transformer, *args, **kwargs).arguments
        bound.pop("self", None)
        extra = bound.pop("kwargs", {})
        call = {**bound, **extra}
        cfg = self.config
        new_step, frac = self._new_step()
        # The first call of a step is the main one (it holds the conditional rows); later calls in the
        # same step (FLUX true-CFG negative pass, SD3 skip-layer pass) get the same delta added.
        if new_step:
            self.delta = None
            if cfg.scale == 0 or not self.any_active or not (cfg.start <= frac < cfg.stop):
                return inner(**call)
            return self._main_call(inner, call)
        out = inner(**call)
        if self.delta is None:
            return out
        sample = _sample_of(out)
        if sample.shape[0] != self.delta.shape[0]:
            raise GuidanceError(
                f"unexpected second transformer call in one denoising step with batch {sample.shape[0]} "
                f"(the guided conditional batch is {self.delta.shape[0]}); this pipeline's call pattern is not supported"
            )
        return _replace_sample(out, sample + cfg.scale * self.delta)

    def _main_call(self, inner, call: dict[str, Any]):
        cfg = self.config
        hidden = call["hidden_states"]
        batch = hidden.shape[0]
        cond, uncond = self._cond_rows(batch)
        n_cond = cond.stop - cond.start
        table = cfg.table.to(hidden.device)
        if table.dim() == 2:
            table = table.expand(n_cond, *table.shape)
        elif table.shape[0] != n_cond:
            raise GuidanceError(
                f"the per-row strength table has {table.shape[0]} rows but the pipeline's call has {n_cond} "
                "conditional rows; give one table row per generated image"
            )
        jak = call.get("joint_attention_kwargs") or {}
        if any(torch.is_tensor(v) for v in jak.values()):
            raise GuidanceError(
                "joint_attention_kwargs with tensors (e.g. IP-Adapter embeddings) are not supported with stylehunt guidance"
            )
        extended = dict(call)
        for name in _BATCHED[self.family]:
            value = call.get(name)
            if torch.is_tensor(value) and value.dim() > 0:
                extended[name] = _append_rows(value, cond, batch, name)
        for name in _BATCHED_LISTS[self.family]:
            value = call.get(name)
            if value is not None:
                extended[name] = [_append_rows(v, cond, batch, name) for v in value]
        text = call.get("encoder_hidden_states")
        self.perturber.rows = _Rows(
            start=batch, table=table, text_len=0 if text is None else int(text.shape[1]), heads=self.heads
        )
        try:
            out = inner(**extended)
        finally:
            self.perturber.rows = None
        sample = _sample_of(out)
        main, perturbed = sample[:batch], sample[batch:]
        delta = main[cond] - perturbed
        guided = main.clone()
        guided[cond] += cfg.scale * delta
        if uncond is not None:
            guided[uncond] += cfg.scale * delta
        self.delta = delta
        return _replace_sample(out, guided)


def _active_layers(table: torch.Tensor) -> list[bool]:
    """Which layers have any head with a strength > 0, for a 2-D or per-row 3-D table."""
    return (table.reshape(-1, *table.shape[-2:]).amax(dim=(0, 2)) > 0).tolist()


def _append_rows(value: torch.Tensor, cond: slice, batch: int, name: str) -> torch.Tensor:
    if value.shape[0] != batch:
        raise GuidanceError(
            f"transformer argument `{name}` has batch {value.shape[0]}, expected {batch}; cannot add perturbed rows"
        )
    return torch.cat([value, value[cond]], dim=0)


def _sample_of(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out.sample


def _replace_sample(out: Any, sample: torch.Tensor) -> Any:
    if isinstance(out, tuple):
        return (sample, *out[1:])
    out.sample = sample
    return out


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------

# pipeline -> _Guidance; weak so a dropped pipeline takes its state with it.
_APPLIED: "weakref.WeakKeyDictionary[Any, _Guidance]" = weakref.WeakKeyDictionary()
# transformer -> pipeline it is guided through (a transformer shared by two pipelines is guided once).
_OWNER: "weakref.WeakKeyDictionary[torch.nn.Module, Any]" = weakref.WeakKeyDictionary()


def check_pipeline(pipe: Any) -> HeadGrid:
    names = {cls.__name__ for cls in type(pipe).__mro__}
    if not names.intersection(SUPPORTED_PIPELINES):
        raise UnsupportedModelError(
            f"unsupported pipeline class {type(pipe).__name__}; supported: {', '.join(SUPPORTED_PIPELINES)}"
        )
    grid = head_grid(pipe)  # raises UnsupportedModelError for other transformer classes
    scheduler = getattr(pipe, "scheduler", None)
    if not hasattr(scheduler, "step_index") or not hasattr(scheduler, "timesteps"):
        raise UnsupportedModelError(
            f"scheduler {type(scheduler).__name__} has no `step_index`/`timesteps`; stylehunt needs them to "
            "know where a denoising step starts"
        )
    return grid


def _check_backends(pipe: Any, grid: HeadGrid, table: torch.Tensor) -> None:
    modules = attention_modules(pipe)
    active = _active_layers(table)
    for layer in grid.layers:
        if not active[layer.index]:
            continue
        backend = getattr(getattr(modules[layer.index], "processor", None), "_attention_backend", None)
        backend = getattr(backend, "value", backend)
        if backend not in _NATIVE_BACKENDS:
            raise UnsupportedModelError(
                f"attention backend {backend!r} on {layer.module_name} never calls torch's "
                "scaled_dot_product_attention, where stylehunt perturbs heads",
                hint="call pipe.transformer.set_attention_backend('native') before stylehunt.apply",
            )


def _check_compatibility(pipe: Any, grid: HeadGrid, presets: Sequence[Preset]) -> None:
    mine = grid.fingerprint()
    model_id = getattr(getattr(pipe, "config", None), "_name_or_path", None) or getattr(
        pipe.transformer.config, "_name_or_path", None
    )
    for preset in presets:
        if preset.fingerprint is not None and preset.fingerprint != mine:
            raise ArchitectureMismatchError(
                f"preset {preset.label} was made for {_describe(preset.fingerprint)} "
                f"({preset.model or 'unknown model'}), but this pipeline's transformer is {_describe(mine)}",
                hint="use a preset made for this model (stylehunt list --model ...)",
            )
        if preset.fingerprint is not None and preset.model and model_id and preset.model != model_id:
            logger.warning(
                "preset %s was made for %s; applying it to %s, which has the same architecture (a fine-tune?)",
                preset.label,
                preset.model,
                model_id,
            )
        for i, address in enumerate(preset.heads):
            grid.check(address, where=f"preset {preset.label}: heads[{i}]")


def _describe(fp: dict[str, Any]) -> str:
    return (
        f"{fp.get('transformer_class')} with {fp.get('num_layers')} layers x {fp.get('heads_per_layer')} heads "
        f"(head dim {fp.get('head_dim')})"
    )


def _check_settings(scale: float, identity: str, start: float, stop: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise GuidanceError(f"Expected `scale` to be a finite number >= 0, but got {scale!r}")
    if identity not in IDENTITY_MODES:
        raise GuidanceError(f"Expected `identity` to be one of {IDENTITY_MODES}, but got {identity!r}")
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise GuidanceError(f"Expected `{name}` to be a fraction between 0.0 and 1.0, but got {value!r}")
    if start >= stop:
        raise GuidanceError(f"Expected `start` < `stop`, but got start={start} and stop={stop}")
    return float(scale)


def _check_table(grid: HeadGrid, table: Any) -> torch.Tensor:
    max_heads = max(grid.heads_per_layer)
    if not torch.is_tensor(table) or table.dim() not in (2, 3) or tuple(table.shape[-2:]) != (grid.num_layers, max_heads):
        shape = tuple(table.shape) if torch.is_tensor(table) else type(table).__name__
        raise GuidanceError(
            f"Expected a strength table of shape ([rows,] {grid.num_layers}, {max_heads}), but got {shape}"
        )
    if not torch.isfinite(table).all() or table.min() < 0 or table.max() > 1:
        raise GuidanceError("Expected every strength in the table to be between 0.0 and 1.0")
    return table.detach().float().cpu()


def _resolve_strengths(presets: Sequence[Preset], strengths: Any) -> tuple[float, ...]:
    if strengths is None:
        return tuple(p.strength for p in presets)
    if isinstance(strengths, (int, float)) and not isinstance(strengths, bool):
        values = [strengths] * len(presets)
    else:
        values = list(strengths)
        if len(values) != len(presets):
            raise GuidanceError(
                f"got {len(values)} strengths for {len(presets)} presets ({', '.join(p.label for p in presets)}); "
                "pass one float for all, or one per preset"
            )
    out = []
    for preset, u in zip(presets, values):
        if isinstance(u, bool) or not isinstance(u, (int, float)) or not 0.0 <= u <= 1.0:
            raise GuidanceError(f"Expected strength for {preset.label} to be between 0.0 and 1.0, but got {u!r}")
        out.append(float(u))
    return tuple(out)


def _resolve_scale(presets: Sequence[Preset], scale: float | None) -> float:
    if scale is not None:
        return scale
    scales = sorted({p.scale for p in presets})
    if len(scales) > 1:
        raise GuidanceError(
            "the presets have different default scales ("
            + ", ".join(f"{p.label}: {p.scale:g}" for p in presets)
            + "); pass scale= explicitly"
        )
    return scales[0]


def _as_presets(presets: Preset | Sequence[Preset]) -> tuple[Preset, ...]:
    if isinstance(presets, Preset):
        return (presets,)
    if isinstance(presets, (str, bytes)) or not isinstance(presets, Sequence):
        raise GuidanceError(
            f"Expected a Preset or a list of Presets, but got {type(presets).__name__}; "
            "load references with stylehunt.apply (top level) or stylehunt.load_preset"
        )
    out = tuple(presets)
    for p in out:
        if not isinstance(p, Preset):
            raise GuidanceError(f"Expected Preset objects, but got {type(p).__name__}: {p!r}")
    if not out:
        raise GuidanceError("Expected at least one preset, but got an empty list; use stylehunt.remove(pipe) to clear")
    labels = [p.label for p in out if p.name]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise GuidanceError(f"preset(s) given twice: {', '.join(dupes)}")
    return out


def _install(pipe: Any, grid: HeadGrid, config: AppliedGuidance) -> None:
    owner = _OWNER.get(pipe.transformer)
    if owner is not None and owner is not pipe:
        raise GuidanceError(
            f"this transformer is already guided through another pipeline object ({type(owner).__name__}); "
            "call stylehunt.remove() on that pipeline first"
        )
    _check_backends(pipe, grid, config.table)
    previous = _APPLIED.get(pipe)
    state = _Guidance(pipe, grid, config)
    if previous is not None:
        previous.uninstall()
    try:
        state.install()
    except BaseException:
        if previous is not None:
            previous.install()
        raise
    _APPLIED[pipe] = state
    _OWNER[pipe.transformer] = pipe


def apply(
    pipe: Any,
    presets: Preset | Sequence[Preset],
    *,
    scale: float | None = None,
    strengths: float | Sequence[float] | None = None,
    identity: str = "joint",
    start: float = 0.0,
    stop: float = 1.0,
) -> None:
    """Guide ``pipe`` with one or more presets; replaces whatever was applied before.

    Args:
        pipe: a stock diffusers pipeline (see ``SUPPORTED_PIPELINES``).
        presets: one :class:`Preset` or a list of them. All are perturbed in one extra forward row.
        scale: guidance scale ``w >= 0``; default: the presets' (common) default scale.
        strengths: SoftPAG ``u`` overriding each preset's own: a float for all or one per preset.
        identity: ``"joint"`` (every token attends to itself; the paper's choice) or ``"image"``
            (diffusers' SD3 PAG: image queries keep their own image key plus all text keys).
        start, stop: guide only while ``start <= i / len(scheduler.timesteps) < stop`` for step index i.

    Raises :class:`~stylehunt.errors.StylehuntError` subclasses; on error the pipeline is unchanged.
    """
    presets = _as_presets(presets)
    grid = check_pipeline(pipe)
    _check_compatibility(pipe, grid, presets)
    u = _resolve_strengths(presets, strengths)
    w = _check_settings(_resolve_scale(presets, scale), identity, start, stop)
    table = strength_table(grid, presets, u)
    config = AppliedGuidance(presets, u, w, identity, float(start), float(stop), table)
    _install(pipe, grid, config)
    logger.info("stylehunt: applied %s (w=%g, u=%s, identity=%s)", ", ".join(config.names), w, u, identity)


def apply_table(
    pipe: Any,
    table: torch.Tensor,
    *,
    scale: float,
    identity: str = "joint",
    start: float = 0.0,
    stop: float = 1.0,
) -> None:
    """Low-level: guide with a raw strength table instead of presets (used by the search).

    ``table`` is ``(num_layers, max_heads)`` (the same heads for every image) or
    ``(num_images, num_layers, max_heads)``: one head set per conditional row, so one pipeline call
    evaluates several candidate head sets side by side.
    """
    grid = check_pipeline(pipe)
    w = _check_settings(scale, identity, start, stop)
    config = AppliedGuidance((), (), w, identity, float(start), float(stop), _check_table(grid, table))
    _install(pipe, grid, config)


@contextlib.contextmanager
def perturbed(
    model: Any, table: torch.Tensor, *, start: int = 0, identity: str = "joint", text_len: int = 0
) -> Iterator[None]:
    """Low-level: inside the block, every forward of ``model``'s transformer perturbs rows
    ``start .. start + table.shape[0]`` with per-row strengths ``table`` (``(rows, layers, heads)``).

    No guidance is formed: this is the perturbed model ``eps_pert`` alone (for analyses and
    benchmarks). ``text_len`` (text tokens in the joint sequence) is needed for ``identity="image"``.
    """
    transformer = transformer_of(model)
    grid = head_grid(transformer)
    _check_settings(1.0, identity, 0.0, 1.0)
    table = _check_table(grid, table)
    if table.dim() == 2:
        table = table[None]
    perturber = _HeadPerturber(transformer, grid, table, identity)
    perturber.install()
    device = next(transformer.parameters()).device
    perturber.rows = _Rows(start=start, table=table.to(device), text_len=text_len, heads=_heads_by_layer(table))
    try:
        yield
    finally:
        perturber.rows = None
        perturber.uninstall()


def remove(pipe: Any) -> None:
    """Remove everything stylehunt applied to ``pipe`` (a no-op when nothing is applied)."""
    state = _APPLIED.get(pipe)
    if state is None:
        return
    state.uninstall()
    del _APPLIED[pipe]
    _OWNER.pop(pipe.transformer, None)


def get_applied(pipe: Any) -> AppliedGuidance | None:
    """What is applied to ``pipe``, or ``None``."""
    state = _APPLIED.get(pipe)
    return None if state is None else state.config


@contextlib.contextmanager
def applied(pipe: Any, presets: Preset | Sequence[Preset], **kwargs: Any) -> Iterator[None]:
    """``apply`` for the duration of a ``with`` block, then restore what was applied before (if anything)."""
    before = get_applied(pipe)
    apply(pipe, presets, **kwargs)
    try:
        yield
    finally:
        remove(pipe)
        if before is not None:
            _install(pipe, head_grid(pipe), before)
