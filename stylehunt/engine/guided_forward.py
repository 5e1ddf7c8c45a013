"""The guided forward: one batched call computes ``eps_c - eps_pert``; the pipeline gets ``eps + w (eps_c - eps_pert)``.

`GuidedPipeline` holds what `apply` attaches to one pipeline (the scheduler patches);
`GuidedTransformer` the ``forward`` of one denoiser. What differs by family is read from its adapter.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import GuidanceError, NonFiniteGuidanceError, UnsupportedModelError
from .compat import check_hooks, reset_stateful_caches
from .families.spec import Adapter
from .forward_patch import ForwardPatch
from .heads import HeadGrid, unwrap_compiled
from .perturbation import HeadPerturber, PerturbedRows, active_layers, heads_by_layer
from .prefix import PrefixFork, native_mask_blocks
from .preset_type import PresetLike
from .rows import (fit_to_model_output, joined_outputs, select_dict_rows, select_items, select_rows, split_outputs,
                   unique_rows)


__all__ = ["GuidanceSettings", "AppliedGuidance", "GuidedTransformer", "GuidedPipeline"]


@dataclass(frozen=True)
class GuidanceSettings:
    """Guidance settings once checked (`stylehunt.engine.check_settings`): what travels from a front
    end's keywords to what is applied, so nothing is unpacked and packed again on the way."""

    presets: tuple[PresetLike, ...]
    strengths: tuple[float, ...]  # one SoftPAG u per preset
    scale: float  # w
    identity: str
    start: float
    stop: float


@dataclass(frozen=True)
class AppliedGuidance(GuidanceSettings):
    """What is applied to a pipeline (returned by `stylehunt.engine.get_applied`): the settings and their table."""

    table: torch.Tensor = field(repr=False, compare=False)
    #: share work between rows: a perturbed row runs only from its first perturbed layer's block on
    #: (`prefix`), and rows with identical inputs run once; off only to measure what it saves
    share_prefix: bool = True

    @property
    def names(self) -> list[str]:
        return [p.label for p in self.presets]


class GuidedPipeline:
    """Everything stylehunt attached to one pipeline: one `GuidedTransformer` per denoiser,
    and the ``scheduler.step`` hook when the family's guidance is injected there."""

    def __init__(self, pipe: Any, adapter: Adapter, grid: HeadGrid, config: AppliedGuidance):
        self.pipe_ref = weakref.ref(pipe)
        self.adapter = adapter
        self.config = config
        self.pending: torch.Tensor | None = None  # scheduler injection: delta of the current step
        self.denoisers = [
            GuidedTransformer(self, transformer, grid) for transformer in denoisers_of(pipe, adapter)
        ]
        self.scheduler_patch: ForwardPatch | None = None
        self.watch_patch: ForwardPatch | None = None  # scheduler.set_timesteps: the start of every pipeline call

    @property
    def transformers(self) -> list[torch.nn.Module]:
        return [d.transformer for d in self.denoisers]

    def install(self) -> None:
        done: list[GuidedTransformer] = []
        scheduler = self.pipe_ref().scheduler
        try:
            for denoiser in self.denoisers:
                denoiser.install()
                done.append(denoiser)
            self.sync_compiled()
            if hasattr(scheduler, "set_timesteps"):
                self.watch_patch = ForwardPatch(scheduler, self._set_timesteps, method="set_timesteps")
            if self.adapter.inject == "scheduler":
                self.scheduler_patch = ForwardPatch(scheduler, self._scheduler_step, method="step")
        except BaseException:
            if self.watch_patch is not None:
                self.watch_patch.restore()
                self.watch_patch = None
            for denoiser in reversed(done):
                denoiser.uninstall()
            raise

    def uninstall(self) -> None:
        for name in ("scheduler_patch", "watch_patch"):
            patch = getattr(self, name)
            if patch is not None:
                patch.restore()
                setattr(self, name, None)
        for denoiser in reversed(self.denoisers):
            denoiser.uninstall()
        self.pending = None

    def _set_timesteps(self, *args, **kwargs):
        """A pipeline call starts: its denoisers must be the ones stylehunt guides (a transformer assigned
        after ``apply``, e.g. a quantized or compiled copy, would otherwise run unguided, silently)."""
        pipe = self.pipe_ref()
        now = denoisers_of(pipe, self.adapter)
        if len(now) != len(self.denoisers) or any(a is not b for a, b in zip(now, self.transformers)):
            names = [n for n in self.adapter.denoisers if getattr(pipe, n, None) is not None]
            raise GuidanceError(
                f"pipe.{' / pipe.'.join(names)} was replaced after stylehunt.apply, so the new model would run unguided",
                hint="call stylehunt.apply(pipe, ...) again after replacing it, or stylehunt.remove(pipe) to run unguided",
            )
        for transformer in now:
            check_hooks(transformer)  # a cache enabled after apply
        self.sync_compiled()  # compiled after apply
        return self.watch_patch.inner(*args, **kwargs)

    def sync_compiled(self) -> None:
        pipe = self.pipe_ref()
        for name in self.adapter.denoisers:
            held = getattr(pipe, name, None)
            for denoiser in self.denoisers:
                if unwrap_compiled(held) is denoiser.transformer:
                    denoiser.sync_compiled(held)

    def check_scheduler(self) -> None:
        """The guidance goes through the scheduler stylehunt patched; a scheduler swapped in after
        ``apply`` would silently drop it."""
        patch = self.scheduler_patch
        if patch is not None and self.pipe_ref().scheduler is not patch.module:
            raise GuidanceError(
                "the pipeline's scheduler was replaced after stylehunt.apply, so the guidance would not reach it",
                hint="call stylehunt.apply again after setting pipe.scheduler",
            )

    def _scheduler_step(self, *args, **kwargs):
        inner = self.scheduler_patch.inner
        delta, self.pending = self.pending, None
        if delta is None:
            return inner(*args, **kwargs)
        if args:
            model_output, args = args[0], args[1:]
        else:
            model_output = kwargs.pop("model_output")
        term = self.config.scale * fit_to_model_output(
            delta, model_output, self.adapter.output_sign, self.adapter.kept_tokens
        )
        guided = model_output + term.to(model_output.dtype)
        step = max(d.step for d in self.denoisers)  # the expert that ran this step is the furthest along
        return inner(finite(guided, model_output, self.config.scale, step), *args, **kwargs)


class GuidedTransformer:
    """The transformer-side hook of one denoiser: the attention hooks plus the forward wrapper.

    On the first call of a denoising step it appends one perturbed copy of every conditional row to the
    batch (one extra row per conditional row, whatever the number of presets), runs one batched forward
    with the attention hooks of `perturbation` active on the appended rows, and keeps
    ``delta = eps_c - eps_pert``. Where ``w * delta`` goes is the adapter's ``inject``:

    * ``"transformer"``: added to the conditional rows *and* their unconditional partners of that
      output, and to every later call of the same step (FLUX's true-CFG negative pass, SD3's
      skip-layer pass). The pipeline's own CFG is an affine combination whose weights sum to 1, so it
      hands ``eps_cfg + w delta`` to the scheduler, exactly.
    * ``"scheduler"``: the transformer's outputs are left alone and ``scheduler.step`` (also patched on
      the instance) gets ``model_output + w * sign * delta``, after the pipeline's own CFG and any
      renormalisation, which would otherwise scale the guidance term too (Qwen-Image, Z-Image).
    """

    def __init__(self, owner: GuidedPipeline, transformer: torch.nn.Module, grid: HeadGrid):
        self.owner = owner
        self.transformer = transformer
        self.adapter = owner.adapter
        self.config = owner.config
        self.perturber = HeadPerturber(transformer, grid, self.config.table, self.config.identity)
        self.prefix = PrefixFork(transformer, self.adapter, grid, self.config.table, self.perturber)
        self.prefix.enabled &= self.config.share_prefix
        self.delta: torch.Tensor | None = None  # eps_c - eps_pert of the current step (transformer injection)
        self.step_key: tuple[Any, Any] | None = None
        self.step: tuple[int, int] = (0, 0)  # (0-based index, number of steps) of the current step
        self.last_guided: tuple[Any, bool] | None = None  # (timesteps, guided?) of the last step
        self.signature = inspect.signature(type(transformer).forward)
        self.patch: ForwardPatch | None = None
        self.outer: ForwardPatch | None = None  # around a compiled call of the transformer (sync_compiled)
        self.any_active = any(active_layers(self.config.table))
        self.heads = heads_by_layer(self.config.table)
        self.native = native_mask_blocks(transformer, self.adapter, self.config.table)  # LTX-2's perturbation_mask

    def install(self) -> None:
        self.perturber.install()
        try:
            self.prefix.install()
            self.patch = ForwardPatch(self.transformer, self._guided(lambda: self.patch))
        except BaseException:
            self.prefix.uninstall()
            self.perturber.uninstall()
            raise

    def uninstall(self) -> None:
        if self.outer is not None:
            self.outer.restore()
            self.outer = None
        if self.patch is not None:
            self.patch.restore()
            self.patch = None
        self.prefix.uninstall()
        self.perturber.uninstall()

    def _guided(self, patch_of):
        def forward(*args, **kwargs):
            return self._transformer_forward(patch_of().inner, *args, **kwargs)

        return forward

    def sync_compiled(self, held: Any) -> None:
        """Keep the guided wrapper outside a compiled transformer (``held``: what the pipeline holds).

        The wrapper's step bookkeeping reads the scheduler's step index: traced by dynamo, that is a
        guard that recompiles every step. So where the transformer runs compiled (``transformer.compile()``
        sets ``_compiled_call_impl``; ``torch.compile(transformer)`` is an ``OptimizedModule`` whose
        ``forward`` is the compiled call), the wrapper goes around that compiled call and runs eagerly,
        and the one on ``forward`` passes through; the attention and block hooks are traced into the graph.
        """
        if getattr(self.transformer, "_compiled_call_impl", None) is not None:
            target = (self.transformer, "_compiled_call_impl")
        elif held is not self.transformer and held is not None:
            target = (held, "forward")
        else:
            target = None
        outer = self.outer
        if outer is not None and target is not None and (outer.module, outer.method) == target and outer.attached:
            return
        if outer is not None:
            outer.restore()
            self.outer = None
        if target is not None:
            self.outer = ForwardPatch(target[0], self._guided(lambda: self.outer), method=target[1])
        self.patch.dormant = self.outer is not None

    # -- transformer --------------------------------------------------------------------------------
    def _new_step(self) -> tuple[bool, float]:
        """Is this the first transformer call of a denoising step? And the step's place in the schedule.

        ``set_timesteps`` makes a new ``timesteps`` tensor for every pipeline call and ``step``
        advances ``step_index``, so the pair identifies one step; the tensor is kept (not its id)
        so that its identity cannot be reused.
        """
        scheduler = self.owner.pipe_ref().scheduler
        timesteps, step_index = scheduler.timesteps, scheduler.step_index
        new = self.step_key is None or self.step_key[0] is not timesteps or self.step_key[1] != step_index
        self.step_key = (timesteps, step_index)
        index = step_index if step_index is not None else (getattr(scheduler, "begin_index", None) or 0)
        self.step = (index, len(timesteps))
        return new, index / max(len(timesteps), 1)

    def _cond_rows(self, batch: int) -> tuple[slice, slice | None]:
        """(conditional rows, their unconditional partners) of the pipeline's own batch."""
        pipe, adapter = self.owner.pipe_ref(), self.adapter
        if adapter.cfg in ("uncond_first", "cond_first"):
            try:
                cfg = bool(adapter.cfg_in_call(pipe) if adapter.cfg_in_call else getattr(pipe, adapter.cfg_flag))
            except AttributeError as e:
                raise GuidanceError(
                    "the guided transformer was called outside a pipeline call; call the pipeline instead"
                ) from e
            if cfg:
                if batch % 2:
                    raise GuidanceError(
                        f"the {adapter.name} pipeline runs CFG in one batched call, but this call has an odd batch "
                        f"({batch}); this call pattern is not supported"
                    )
                first, second = slice(0, batch // 2), slice(batch // 2, batch)
                return (second, first) if adapter.cfg == "uncond_first" else (first, second)
        return slice(0, batch), None

    def _transformer_forward(self, inner, *args, **kwargs):
        for name in self.adapter.refuse_if_set:
            if kwargs.get(name) is not None:
                raise UnsupportedModelError(
                    f"the transformer was called with `{name}` set, which stylehunt cannot guide through for the "
                    f"{self.adapter.name} family: it appends perturbed rows to the batch, and `{name}` (a KV cache, "
                    "or a layout the family adapter does not describe) would not cover them",
                    hint=f"generate without `{name}`, or stylehunt.remove(pipe) first",
                )
        bound = self.signature.bind_partial(self.transformer, *args, **kwargs).arguments
        bound.pop("self", None)
        extra = bound.pop("kwargs", {})
        call = {**bound, **extra}
        cfg = self.config
        new_step, frac = self._new_step()
        # The first call of a step is the main one (it holds the conditional rows); later calls in the
        # same step (FLUX true-CFG negative pass, SD3 skip-layer pass) get the same delta added.
        if new_step:
            self.delta = self.owner.pending = None
            guided = cfg.scale != 0 and self.any_active and cfg.start <= frac < cfg.stop
            last, self.last_guided = self.last_guided, (self.step_key[0], guided)
            if last is not None and last[0] is self.step_key[0] and last[1] != guided:
                reset_stateful_caches(self.transformer)  # the perturbed rows come or go: caches start afresh
            # a per-row cache kept across steps (adapter.row_caches) needs the same rows at every step:
            # outside [start, stop) the perturbed rows still run (their cache entries stay in step), unused
            same_rows = any(call.get(name) is not None for name in self.adapter.row_caches)
            if same_rows and cfg.scale != 0 and self.any_active:
                return self._main_call(inner, call, same_rows=True, use=guided)
            if not guided:
                return inner(**call)
            return self._main_call(inner, call)
        out = inner(**call)
        if self.delta is None:
            return out
        sample = _stacked(out, self.adapter)
        if sample.shape[0] != self.delta.shape[0]:
            raise GuidanceError(
                f"unexpected second transformer call in one denoising step with batch {sample.shape[0]} "
                f"(the guided conditional batch is {self.delta.shape[0]}); this pipeline's call pattern is not supported"
            )
        guided = finite(sample + cfg.scale * self.delta, sample, cfg.scale, self.step)
        return _replace_sample(out, guided, self.adapter)

    def _main_call(self, inner, call: dict[str, Any], same_rows: bool = False, use: bool = True):
        """The step's first call with perturbed rows appended; ``same_rows``: no duplicate computed once and
        no shared prefix (a per-row cache is in the call); ``use``: the term is added (else only computed)."""
        cfg, adapter = self.config, self.adapter
        if (problem := adapter.refused_call(self.owner.pipe_ref())) is not None:
            raise UnsupportedModelError(f"{problem}; stylehunt cannot guide this call", hint="set it to 0 while guided")
        first = call.get(adapter.batch_arg)
        if first is None:
            raise GuidanceError(f"the {adapter.name} transformer was called without `{adapter.batch_arg}`")
        batch = first.shape[0] if torch.is_tensor(first) else len(first)
        cond, uncond = self._cond_rows(batch)
        n_cond = cond.stop - cond.start
        # the batch's device, not the first parameter's (offload hooks keep weights on the CPU or `meta`)
        table = cfg.table.to(device_of(first))
        if table.dim() == 2:
            table = table.expand(n_cond, *table.shape)
        elif table.shape[0] != n_cond:
            raise GuidanceError(
                f"the per-row strength table has {table.shape[0]} rows but the pipeline's call has {n_cond} "
                "conditional rows; give one table row per generated image"
            )
        jak = call.get("joint_attention_kwargs") or call.get("attention_kwargs") or {}
        if any(torch.is_tensor(v) for v in jak.values()):
            raise GuidanceError(
                "attention kwargs with tensors (e.g. IP-Adapter embeddings) are not supported with stylehunt guidance"
            )
        # Rows whose inputs are identical (the search's candidates of one prompt-seed pair at the first
        # step) are computed once; perturbed row j starts as a copy of conditional row cond.start + j.
        share = cfg.share_prefix and not same_rows
        keep, inverse = unique_rows(call, adapter, batch) if share else (list(range(batch)), list(range(batch)))
        index = keep + list(range(cond.start, cond.stop))
        extended = dict(call)
        for name in adapter.batched:
            value = call.get(name)
            if torch.is_tensor(value) and value.dim() > 0:
                extended[name] = select_rows(value, index, batch, name)
        for name in adapter.batched_per_sample:
            value = call.get(name)
            if value is not None:
                extended[name] = select_items(list(value), index, batch, name)
        for name in adapter.batched_per_block:
            value = call.get(name)
            if value is not None:
                extended[name] = [select_rows(v, index, batch, name) for v in value]
        extended.update(select_dict_rows(call, adapter, index, batch))
        text = call.get(adapter.text_arg)
        unique = len(keep)
        rows = PerturbedRows(
            start=unique,
            table=table,
            text_len=int(text.shape[1]) if torch.is_tensor(text) and text.dim() > 1 else 0,
            heads=self.heads,
        )
        if self.native is not None:  # the transformer's own mask: (1 - u) on the perturbed rows, 1 on the others
            mask_arg, blocks_arg, _ = adapter.native_mask
            u = self.native[1].to(table.device).expand(n_cond)  # one u per table row: one, or one per image
            extended[mask_arg] = torch.cat([torch.ones(unique, device=table.device), 1 - u]).to(first.dtype)
            extended[blocks_arg] = self.native[0]
        self.perturber.rows = rows if self.native is None else None
        if share:
            self.prefix.begin(unique, [inverse[i] for i in range(cond.start, cond.stop)], rows)
        try:
            out = inner(**extended)
        finally:
            self.perturber.rows = None
            self.prefix.end()
        sample = _stacked(out, adapter)
        main, perturbed = sample[:unique], sample[unique:]
        if unique != batch:
            main = main.index_select(0, torch.tensor(inverse, device=main.device))
        delta = main[cond] - perturbed
        if not use:
            return _replace_sample(out, main, adapter)
        if adapter.inject == "scheduler":
            self.owner.check_scheduler()
            self.owner.pending = delta
            return _replace_sample(out, main, adapter)
        guided = main.clone()
        guided[cond] += cfg.scale * delta
        if uncond is not None:
            guided[uncond] += cfg.scale * delta
        self.delta = delta
        return _replace_sample(out, finite(guided, main, cfg.scale, self.step), adapter)


def denoisers_of(pipe: Any, adapter: Adapter) -> list[torch.nn.Module]:
    """The pipeline's denoisers the adapter names, in order, skipping absent ones (the first is required);
    a ``torch.compile``d one as the module it compiles (the hooks go on that)."""
    out = []
    for i, name in enumerate(adapter.denoisers):
        module = unwrap_compiled(getattr(pipe, name, None))
        if module is None and i == 0:
            raise UnsupportedModelError(f"{type(pipe).__name__} has no `{name}`; stylehunt guides its {name}")
        if module is not None and all(module is not m for m in out):
            out.append(module)
    return out


def device_of(batch: Any) -> torch.device:
    """The device of a batch argument: a tensor, or a list of per-sample tensors."""
    if torch.is_tensor(batch):
        return batch.device
    for item in batch:
        if torch.is_tensor(item):
            return item.device
    return torch.device("cpu")


def finite(guided: torch.Tensor, unguided: torch.Tensor, scale: float, step: tuple[int, int]) -> torch.Tensor:
    """``guided``, unless adding the guidance made it non-finite where the model's own prediction was not.

    A huge scale (``1e300``) overflows ``w * delta`` to inf; handed to the scheduler, that makes
    NaN latents and, silently, a black image. One ``isfinite().all()`` per call costs nothing
    next to a transformer forward. A prediction that was already non-finite (e.g. a float16
    overflow inside the model) is the model's, not the guidance's, and is passed on as it is.
    """
    if torch.compiler.is_compiling():
        # Inside a compiled graph a Python branch on a tensor is a graph break (and an error under
        # fullgraph=True): the same check as a device-side assertion, which raises when the graph runs.
        ok = torch.isfinite(guided).all() | ~torch.isfinite(unguided).all()
        torch._assert_async(ok, f"stylehunt: guidance scale {scale:g} made the prediction non-finite (inf/NaN)")
        return guided
    if bool(torch.isfinite(guided).all()) or not bool(torch.isfinite(unguided).all()):
        return guided
    index, total = step
    raise NonFiniteGuidanceError(
        f"guidance scale {scale:g} made the prediction non-finite (inf/NaN) at denoising step {index + 1} of {total}",
        scale=scale,
        step=index + 1,
        steps=total,
    )


def _sample_of(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out.sample


def _stacked(out: Any, adapter: Adapter) -> torch.Tensor:
    """The transformer output's rows as one tensor (a per-sample list is stacked)."""
    if adapter.extra_outputs:  # LTX-2's (video, audio): one row of features per row
        return joined_outputs(out, adapter)
    sample = _sample_of(out)
    if adapter.output == "per_sample_list":
        return torch.stack(list(sample))
    return sample


def _replace_sample(out: Any, sample: torch.Tensor, adapter: Adapter) -> Any:
    if adapter.extra_outputs:
        return split_outputs(out, sample, adapter)
    if adapter.output == "per_sample_list":
        sample = list(sample.unbind(0))
    if isinstance(out, tuple):
        return (sample, *out[1:])
    out.sample = sample
    return out
