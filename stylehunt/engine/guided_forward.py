"""The guided forward: one batched call computes ``eps_c - eps_pert``; the pipeline gets ``eps + w (eps_c - eps_pert)``.

Every denoiser of the pipeline (one transformer; Wan 2.2's two experts) gets an instance-level
``forward`` (a :class:`~.forward_patch.ForwardPatch`). On the first call of a denoising step it
appends one perturbed copy of every conditional row to the batch (one extra row per conditional
row, whatever the number of presets), runs one batched forward with the attention hooks of
:mod:`.perturbation` active on the appended rows, and keeps ``delta = eps_c - eps_pert``.

Where ``w * delta`` goes is the adapter's ``inject``:

* ``"transformer"``: added to the conditional rows *and* their unconditional partners of that
  output, and to every later call of the same step (FLUX's true-CFG negative pass, SD3's
  skip-layer pass). The pipeline's own CFG is an affine combination whose weights sum to 1, so it
  hands ``eps_cfg + w delta`` to the scheduler, exactly.
* ``"scheduler"``: the transformer's outputs are left alone and ``scheduler.step`` (also patched on
  the instance) gets ``model_output + w * sign * delta``, after the pipeline's own CFG and any
  renormalisation, which would otherwise scale the guidance term too (Qwen-Image, Z-Image).

Which forward arguments carry the batch, how the pipeline lays out its conditional rows, and what
the transformer returns (a tensor, or Z-Image's list of per-sample tensors) is read from the
pipeline's adapter (:mod:`.families`).
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
from .prefix import PrefixFork

if TYPE_CHECKING:  # annotations only: the engine takes presets duck-typed and never imports the registry
    from ..registry.preset import Preset

__all__ = ["AppliedGuidance", "GuidedTransformer", "GuidedPipeline"]


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
    #: share work between rows: a perturbed row runs only from its first perturbed layer's block on
    #: (:mod:`.prefix`), and rows with identical inputs run once; off only to measure what it saves
    share_prefix: bool = True

    @property
    def names(self) -> list[str]:
        return [p.label for p in self.presets]


class GuidedPipeline:
    """Everything stylehunt attached to one pipeline: one :class:`GuidedTransformer` per denoiser,
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

    @property
    def transformers(self) -> list[torch.nn.Module]:
        return [d.transformer for d in self.denoisers]

    def install(self) -> None:
        done: list[GuidedTransformer] = []
        try:
            for denoiser in self.denoisers:
                denoiser.install()
                done.append(denoiser)
            if self.adapter.inject == "scheduler":
                self.scheduler_patch = ForwardPatch(self.pipe_ref().scheduler, self._scheduler_step, method="step")
        except BaseException:
            for denoiser in reversed(done):
                denoiser.uninstall()
            raise

    def uninstall(self) -> None:
        if self.scheduler_patch is not None:
            self.scheduler_patch.restore()
            self.scheduler_patch = None
        for denoiser in reversed(self.denoisers):
            denoiser.uninstall()
        self.pending = None

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
        term = self.config.scale * fit_to_model_output(delta, model_output, self.adapter.output_sign)
        guided = model_output + term.to(model_output.dtype)
        step = max(d.step for d in self.denoisers)  # the expert that ran this step is the furthest along
        return inner(finite(guided, model_output, self.config.scale, step), *args, **kwargs)


class GuidedTransformer:
    """The transformer-side hook of one denoiser: the attention hooks plus the forward wrapper."""

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
        self.signature = inspect.signature(type(transformer).forward)
        self.patch: ForwardPatch | None = None
        self.any_active = any(active_layers(self.config.table))
        self.heads = heads_by_layer(self.config.table)

    def install(self) -> None:
        self.perturber.install()
        try:
            self.prefix.install()
            self.patch = ForwardPatch(self.transformer, self._transformer_forward)
        except BaseException:
            self.prefix.uninstall()
            self.perturber.uninstall()
            raise

    def uninstall(self) -> None:
        if self.patch is not None:
            self.patch.restore()
            self.patch = None
        self.prefix.uninstall()
        self.perturber.uninstall()

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

    def _transformer_forward(self, *args, **kwargs):
        for name in self.adapter.refuse_if_set:
            if kwargs.get(name) is not None:
                raise UnsupportedModelError(
                    f"the transformer was called with `{name}` set, which stylehunt cannot guide through for the "
                    f"{self.adapter.name} family: it appends perturbed rows to the batch, and `{name}` (a KV cache, "
                    "or a layout the family adapter does not describe) would not cover them",
                    hint=f"generate without `{name}`, or stylehunt.remove(pipe) first",
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
            self.delta = self.owner.pending = None
            if cfg.scale == 0 or not self.any_active or not (cfg.start <= frac < cfg.stop):
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

    def _main_call(self, inner, call: dict[str, Any]):
        cfg, adapter = self.config, self.adapter
        first = call.get(adapter.batch_arg)
        if first is None:
            raise GuidanceError(f"the {adapter.name} transformer was called without `{adapter.batch_arg}`")
        batch = first.shape[0] if torch.is_tensor(first) else len(first)
        cond, uncond = self._cond_rows(batch)
        n_cond = cond.stop - cond.start
        device = next(self.transformer.parameters()).device
        table = cfg.table.to(device)
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
        keep, inverse = _unique_rows(call, adapter, batch) if cfg.share_prefix else (list(range(batch)), list(range(batch)))
        index = keep + list(range(cond.start, cond.stop))
        extended = dict(call)
        for name in adapter.batched:
            value = call.get(name)
            if torch.is_tensor(value) and value.dim() > 0:
                extended[name] = _select_rows(value, index, batch, name)
        for name in adapter.batched_per_sample:
            value = call.get(name)
            if value is not None:
                extended[name] = _select_items(list(value), index, batch, name)
        for name in adapter.batched_per_block:
            value = call.get(name)
            if value is not None:
                extended[name] = [_select_rows(v, index, batch, name) for v in value]
        extended.update(_select_dict_rows(call, adapter, index, batch))
        text = call.get(adapter.text_arg)
        unique = len(keep)
        rows = PerturbedRows(
            start=unique,
            table=table,
            text_len=int(text.shape[1]) if torch.is_tensor(text) and text.dim() > 1 else 0,
            heads=self.heads,
        )
        self.perturber.rows = rows
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
    """The pipeline's denoisers the adapter names, in order, skipping absent ones (the first is required)."""
    out = []
    for i, name in enumerate(adapter.denoisers):
        module = getattr(pipe, name, None)
        if module is None and i == 0:
            raise UnsupportedModelError(f"{type(pipe).__name__} has no `{name}`; stylehunt guides its {name}")
        if module is not None and all(module is not m for m in out):
            out.append(module)
    return out


def finite(guided: torch.Tensor, unguided: torch.Tensor, scale: float, step: tuple[int, int]) -> torch.Tensor:
    """``guided``, unless adding the guidance made it non-finite where the model's own prediction was not.

    A huge scale (``1e300``) overflows ``w * delta`` to inf; handed to the scheduler, that makes
    NaN latents and, silently, a black image. One ``isfinite().all()`` per call costs nothing
    next to a transformer forward. A prediction that was already non-finite (e.g. a float16
    overflow inside the model) is the model's, not the guidance's, and is passed on as it is.
    """
    if bool(torch.isfinite(guided).all()) or not bool(torch.isfinite(unguided).all()):
        return guided
    index, total = step
    raise NonFiniteGuidanceError(
        f"guidance scale {scale:g} made the prediction non-finite (inf/NaN) at denoising step {index + 1} of {total}",
        scale=scale,
        step=index + 1,
        steps=total,
    )


def fit_to_model_output(delta: torch.Tensor, model_output: torch.Tensor, sign: float) -> torch.Tensor:
    """``sign * delta`` (the transformer's rows) laid out like the ``model_output`` handed to ``scheduler.step``.

    The pipelines map the transformer output to the scheduler input by squeezing a singleton axis
    (Z-Image's frame axis: same size per row, reshaped) or by slicing off reference-image tokens
    (Qwen-Image-Edit: more tokens on dim 1, the leading ones kept), besides the sign.
    """
    if delta.shape != model_output.shape:
        same_rows = delta.shape[0] == model_output.shape[0]
        if same_rows and delta[0].numel() == model_output[0].numel():
            delta = delta.reshape(model_output.shape)
        elif (
            same_rows
            and delta.dim() == model_output.dim() >= 2
            and delta.shape[2:] == model_output.shape[2:]
            and delta.shape[1] > model_output.shape[1]
        ):
            delta = delta[:, : model_output.shape[1]]
        else:
            raise GuidanceError(
                f"scheduler.step got a prediction of shape {tuple(model_output.shape)}, which does not match the "
                f"guided transformer rows {tuple(delta.shape)}; this pipeline's call pattern is not supported"
            )
    return delta if sign == 1.0 else delta * sign


def _unique_rows(call: dict[str, Any], adapter: Adapter, batch: int) -> tuple[list[int], list[int]]:
    """``(keep, inverse)``: the first of every set of rows whose inputs are identical, and each row's
    position in ``keep``. Rows are compared on every argument the adapter says carries the batch."""
    columns: list[Any] = []
    for name in adapter.batched:
        value = call.get(name)
        if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == batch:
            columns.append(value)
    for name in adapter.batched_per_sample:
        value = call.get(name)
        if value is not None and len(value) == batch:
            columns.append(list(value))
    for name in adapter.batched_per_block:
        columns.extend(v for v in call.get(name) or () if torch.is_tensor(v) and v.shape[0] == batch)
    columns.extend(_dict_columns(call, adapter, batch))
    keep: list[int] = []
    inverse: list[int] = []
    for i in range(batch):
        for position, j in enumerate(keep):
            if all(_same(column[i], column[j]) for column in columns):
                inverse.append(position)
                break
        else:
            inverse.append(len(keep))
            keep.append(i)
    return keep, inverse


def _same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a) and torch.is_tensor(b):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a) or torch.is_tensor(b):
        return False
    return a == b


def _select_rows(value: torch.Tensor, index: list[int], batch: int, name: str) -> torch.Tensor:
    if value.shape[0] != batch:
        raise GuidanceError(
            f"transformer argument `{name}` has batch {value.shape[0]}, expected {batch}; cannot add perturbed rows"
        )
    return value.index_select(0, torch.tensor(index, device=value.device))


def _dict_tensors(call: dict[str, Any], adapter: Adapter) -> list[tuple[str, str, Any]]:
    """``(argument, key, value)`` of every entry of the dict arguments that carry the batch
    (:attr:`~.families.spec.Adapter.batched_dicts`, SDXL's ``added_cond_kwargs``)."""
    return [(name, key, value) for name in adapter.batched_dicts for key, value in (call.get(name) or {}).items()]


def _select_dict_rows(call: dict[str, Any], adapter: Adapter, index: list[int], batch: int) -> dict[str, Any]:
    """The batched dict arguments with rows ``index`` selected from each tensor; ``None`` entries stay.

    An entry that is not a tensor with the batch on dim 0 (an IP-Adapter's list of image embeddings)
    has no rows to append, and is refused.
    """
    out: dict[str, dict[str, Any]] = {name: dict(call[name]) for name in adapter.batched_dicts if call.get(name)}
    for name, key, value in _dict_tensors(call, adapter):
        if value is None:
            continue
        if not (torch.is_tensor(value) and value.dim() > 0):
            raise GuidanceError(
                f"transformer argument `{name}` holds `{key}` ({type(value).__name__}), which stylehunt cannot add "
                "perturbed rows to; generate without it (e.g. without an IP-Adapter), or stylehunt.remove(pipe) first"
            )
        out[name][key] = _select_rows(value, index, batch, f"{name}[{key!r}]")
    return out


def _dict_columns(call: dict[str, Any], adapter: Adapter, batch: int) -> list[torch.Tensor]:
    """The tensors of the batched dict arguments that hold one row per batch row, for :func:`_unique_rows`."""
    return [v for _, _, v in _dict_tensors(call, adapter) if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == batch]


def _select_items(value: list[Any], index: list[int], batch: int, name: str) -> list[Any]:
    if len(value) != batch:
        raise GuidanceError(
            f"transformer argument `{name}` has {len(value)} entries, expected one per row ({batch}); "
            "cannot add perturbed rows"
        )
    return [value[i] for i in index]


def _sample_of(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out.sample


def _stacked(out: Any, adapter: Adapter) -> torch.Tensor:
    """The transformer output's rows as one tensor (a per-sample list is stacked)."""
    sample = _sample_of(out)
    if adapter.output == "per_sample_list":
        return torch.stack(list(sample))
    return sample


def _replace_sample(out: Any, sample: torch.Tensor, adapter: Adapter) -> Any:
    if adapter.output == "per_sample_list":
        sample = list(sample.unbind(0))
    if isinstance(out, tuple):
        return (sample, *out[1:])
    out.sample = sample
    return out
