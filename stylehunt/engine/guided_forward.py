"""The transformer-level guided forward: one batched call computes ``eps_cfg + w (eps_c - eps_pert)``.

The transformer gets an instance-level ``forward`` (a :class:`~.forward_patch.ForwardPatch`). On the
first call of a denoising step it appends one perturbed copy of every conditional row to the batch
(one extra row per conditional row, whatever the number of presets), runs one batched forward with
the attention hooks of :mod:`.perturbation` active on the appended rows, and adds
``w * (eps_c - eps_pert)`` to the conditional rows *and* to their unconditional partners. The
pipeline's own CFG is an affine combination whose weights sum to 1, so the result is exactly
``eps_cfg + w (eps_c - eps_pert)``. Later calls in the same step (FLUX's true-CFG negative pass,
SD3's skip-layer pass) get the same ``w * delta`` added, which keeps every such combination exact.

Which forward arguments carry the batch, and how the pipeline lays out its conditional rows, is
read from the pipeline's adapter (:mod:`.families`).
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..errors import GuidanceError, NonFiniteGuidanceError, UnsupportedModelError
from .families.spec import Adapter
from .forward_patch import ForwardPatch
from .heads import HeadGrid
from .perturbation import HeadPerturber, PerturbedRows, active_layers, heads_by_layer

if TYPE_CHECKING:  # annotations only: the engine takes presets duck-typed and never imports the registry
    from ..registry.preset import Preset

__all__ = ["AppliedGuidance", "GuidedTransformer"]


@dataclass(frozen=True)
class AppliedGuidance:
    """What is applied to a pipeline (returned by :func:`~stylehunt.engine.get_applied`)."""

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


class GuidedTransformer:
    """Everything stylehunt attached to one pipeline: the attention hooks plus the transformer hook."""

    def __init__(self, pipe: Any, adapter: Adapter, grid: HeadGrid, config: AppliedGuidance):
        self.pipe_ref = weakref.ref(pipe)
        self.transformer = pipe.transformer
        self.adapter = adapter
        self.grid = grid
        self.config = config
        self.perturber = HeadPerturber(self.transformer, grid, config.table, config.identity)
        self.delta: torch.Tensor | None = None  # eps_c - eps_pert of the current step
        self.step_key: tuple[Any, Any] | None = None
        self.step: tuple[int, int] = (0, 0)  # (0-based index, number of steps) of the current step
        self.signature = inspect.signature(type(self.transformer).forward)
        self.patch: ForwardPatch | None = None
        self.any_active = any(active_layers(config.table))
        self.heads = heads_by_layer(config.table)

    def install(self) -> None:
        self.perturber.install()
        try:
            self.patch = ForwardPatch(self.transformer, self._transformer_forward)
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
        self.step = (index, len(timesteps))
        return new, index / max(len(timesteps), 1)

    def _cond_rows(self, batch: int) -> tuple[slice, slice | None]:
        """(conditional rows, their unconditional partners) of the pipeline's own batch."""
        pipe, layout = self.pipe_ref(), self.adapter.cfg
        if layout in ("uncond_first", "cond_first"):
            try:
                cfg = bool(getattr(pipe, self.adapter.cfg_flag))
            except AttributeError as e:
                raise GuidanceError(
                    "the guided transformer was called outside a pipeline call; call the pipeline instead"
                ) from e
            if cfg:
                first, second = slice(0, batch // 2), slice(batch // 2, batch)
                return (second, first) if layout == "uncond_first" else (first, second)
        return slice(0, batch), None

    def _transformer_forward(self, *args, **kwargs):
        for name in self.adapter.refuse_if_set:
            if kwargs.get(name) is not None:
                raise UnsupportedModelError(
                    f"the transformer was called with `{name}` set: {self.adapter.name} pipelines that cache "
                    "keys/values per batch row cannot be guided by stylehunt (it appends perturbed rows)",
                    hint="generate without the KV cache, or stylehunt.remove(pipe) first",
                )
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
        return _replace_sample(out, self._finite(sample + cfg.scale * self.delta, sample))

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
        for name in self.adapter.batched:
            value = call.get(name)
            if torch.is_tensor(value) and value.dim() > 0:
                extended[name] = _append_rows(value, cond, batch, name)
        for name in self.adapter.batched_per_sample:
            value = call.get(name)
            if value is not None:
                extended[name] = _append_items(list(value), cond, batch, name)
        for name in self.adapter.batched_per_block:
            value = call.get(name)
            if value is not None:
                extended[name] = [_append_rows(v, cond, batch, name) for v in value]
        text = call.get(self.adapter.text_arg)
        self.perturber.rows = PerturbedRows(
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
        return _replace_sample(out, self._finite(guided, main))

    def _finite(self, guided: torch.Tensor, unguided: torch.Tensor) -> torch.Tensor:
        """``guided``, unless adding the guidance made it non-finite where the model's own prediction was not.

        A huge scale (``1e300``) overflows ``w * delta`` to inf; handed to the scheduler, that makes
        NaN latents and, silently, a black image. One ``isfinite().all()`` per call costs nothing
        next to a transformer forward. A prediction that was already non-finite (e.g. a float16
        overflow inside the model) is the model's, not the guidance's, and is passed on as it is.
        """
        if bool(torch.isfinite(guided).all()) or not bool(torch.isfinite(unguided).all()):
            return guided
        index, total = self.step
        raise NonFiniteGuidanceError(
            f"guidance scale {self.config.scale:g} made the prediction non-finite (inf/NaN) at denoising step "
            f"{index + 1} of {total}",
            scale=self.config.scale,
            step=index + 1,
            steps=total,
        )


def _append_rows(value: torch.Tensor, cond: slice, batch: int, name: str) -> torch.Tensor:
    if value.shape[0] != batch:
        raise GuidanceError(
            f"transformer argument `{name}` has batch {value.shape[0]}, expected {batch}; cannot add perturbed rows"
        )
    return torch.cat([value, value[cond]], dim=0)


def _append_items(value: list[Any], cond: slice, batch: int, name: str) -> list[Any]:
    if len(value) != batch:
        raise GuidanceError(
            f"transformer argument `{name}` has {len(value)} entries, expected one per row ({batch}); "
            "cannot add perturbed rows"
        )
    return value + value[cond]


def _sample_of(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out.sample


def _replace_sample(out: Any, sample: torch.Tensor) -> Any:
    if isinstance(out, tuple):
        return (sample, *out[1:])
    out.sample = sample
    return out
