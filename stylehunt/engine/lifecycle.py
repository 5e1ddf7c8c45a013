"""Attaching guidance to a pipeline and taking it off again: the engine's public entry points.

`apply` / `applied` guide a pipeline with presets (`preset_type.PresetLike`), `apply_table` with a
raw strength table (the search), `perturbed` runs the perturbed model alone; `remove` and
`get_applied` undo and report. Every setting is checked before anything is attached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import weakref
from typing import Any, Iterator, Sequence

import torch

from ..errors import ArchitectureMismatchError, GuidanceError, UnsupportedModelError
from .families import adapter_for_pipeline, adapter_for_transformer
from .families.spec import Adapter
from .compat import check_hooks
from .forward_patch import ForwardPatch
from .guided_forward import AppliedGuidance, GuidanceSettings, GuidedPipeline, denoisers_of
from .heads import HeadGrid, attention_modules, fingerprint_family, head_grid, transformer_of
from ..scalars import as_real
from .heads import IDENTITY_MODES
from .dispatch import parallel_config_problem
from .perturbation import HeadPerturber, PerturbedRows, active_layers, heads_by_layer, strength_table
from .preset_type import PRESET_ATTRIBUTES, PresetLike


__all__ = [
    "apply",
    "apply_table",
    "perturbed",
    "remove",
    "applied",
    "get_applied",
    "skipped_block_rows",
    "check_pipeline",
    "check_presets",
    "check_settings",
    "PRESET_ATTRIBUTES",
]

logger = logging.getLogger(__name__)


# pipeline -> GuidedPipeline; weak so a dropped pipeline takes its state with it.
_APPLIED: "weakref.WeakKeyDictionary[Any, GuidedPipeline]" = weakref.WeakKeyDictionary()
# transformer -> pipeline it is guided through (a transformer shared by two pipelines is guided once).
_OWNER: "weakref.WeakKeyDictionary[torch.nn.Module, Any]" = weakref.WeakKeyDictionary()


def check_pipeline(pipe: Any) -> HeadGrid:
    """The head grid of ``pipe``; raises `UnsupportedModelError` unless the engine can guide it."""
    return _check_pipeline(pipe)[1]


def _check_pipeline(pipe: Any) -> tuple[Adapter, HeadGrid]:
    adapter = adapter_for_pipeline(pipe)  # raises for unsupported and refused pipelines
    grid = head_grid(pipe)
    for name, transformer in zip(adapter.denoisers, denoisers_of(pipe, adapter)):
        refused = adapter.refused_config(transformer)
        if refused is not None:
            raise UnsupportedModelError(f"{type(pipe).__name__}.{name} cannot be guided: {refused}")
        if head_grid(transformer).fingerprint() != grid.fingerprint():
            raise UnsupportedModelError(
                f"{type(pipe).__name__}.{name} has a different head grid from {adapter.denoisers[0]} "
                f"({head_grid(transformer).format()} vs {grid.format()}); stylehunt guides every denoiser with the same heads"
            )
    scheduler = getattr(pipe, "scheduler", None)
    if not hasattr(scheduler, "step_index") or not hasattr(scheduler, "timesteps"):
        raise UnsupportedModelError(
            f"scheduler {type(scheduler).__name__} has no `step_index`/`timesteps`; stylehunt needs them to "
            "know where a denoising step starts"
        )
    return adapter, grid


def _check_identity(pipe: Any, adapter: Adapter, identity: str) -> None:
    if identity in IDENTITY_MODES and identity not in adapter.identities:
        note = f": {adapter.identity_note}" if adapter.identity_note else ""
        raise GuidanceError(
            f"identity={identity!r} is not supported for the {adapter.name} family ({type(pipe).__name__}){note}; "
            f"use identity={adapter.identities[0]!r}"
        )


def _check_backends(transformer: Any, grid: HeadGrid, table: torch.Tensor) -> None:
    """Every diffusers attention backend is guided (at its dispatch, `dispatch`); what is refused
    here is parallelism, which splits one attention call over processes (context or tensor parallel)."""
    modules = attention_modules(transformer)
    active = active_layers(table)
    configs = [(type(transformer).__name__, getattr(transformer, "_parallel_config", None))]
    configs += [
        (layer.module_name, getattr(getattr(modules[layer.index], "processor", None), "_parallel_config", None))
        for layer in grid.layers
        if active[layer.index]
    ]
    for where, config in configs:
        problem = parallel_config_problem(config)
        if problem is not None:
            raise UnsupportedModelError(
                f"{where}: {problem} by stylehunt (its head addresses and the one mix per attention call "
                "assume each attention call runs whole on one process)",
                hint="load the transformer without parallel_config and do not call enable_parallelism() "
                "on a pipeline you guide",
            )


def check_settings(
    presets: PresetLike | Sequence[PresetLike],
    *,
    scale: float | None = None,
    strengths: float | Sequence[float] | None = None,
    identity: str = "joint",
    start: float = 0.0,
    stop: float = 1.0,
) -> GuidanceSettings:
    """The settings as `apply` resolves them, without a pipeline.

    Raises what `apply` raises for these arguments (an empty or duplicated preset list, a
    strength outside [0, 1], presets with different default scales and no ``scale``, a bad
    ``identity`` or interval); used by frontends that check their settings before any model is
    at hand (the modular guider).
    """
    presets = _as_presets(presets)
    u = _resolve_strengths(presets, strengths)
    w, start, stop = _check_settings(_resolve_scale(presets, scale), identity, start, stop)
    return GuidanceSettings(presets, u, w, identity, start, stop)


def _fields_of(settings: GuidanceSettings) -> dict[str, Any]:
    # not dataclasses.asdict: it would turn dataclass presets into dicts
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(GuidanceSettings)}


def check_presets(model: Any, presets: PresetLike | Sequence[PresetLike]) -> HeadGrid:
    """The head grid of ``model`` (a pipeline or a transformer), once every preset is checked against it.

    Raises what `apply` raises for the presets: a preset made for another family or
    architecture (`stylehunt.errors.ArchitectureMismatchError`, naming both), or a head out
    of range; used by frontends that perturb heads without `apply` (the modular guider).
    """
    presets = _as_presets(presets)
    grid = head_grid(model)
    _check_compatibility(model, grid, presets)
    return grid


def _check_compatibility(model: Any, grid: HeadGrid, presets: Sequence[PresetLike]) -> None:
    mine = grid.fingerprint()
    my_family = fingerprint_family(mine)
    transformer = transformer_of(model)
    model_id = getattr(getattr(model, "config", None), "_name_or_path", None) or getattr(
        transformer.config, "_name_or_path", None
    )
    for preset in presets:
        theirs = preset.fingerprint
        if theirs is not None and fingerprint_family(theirs) != my_family:
            raise ArchitectureMismatchError(
                f"preset {preset.label} was made for the {fingerprint_family(theirs) or 'unknown'} family "
                f"({_describe(theirs)}; {preset.model or 'unknown model'}), but this pipeline is {my_family} "
                f"({_describe(mine)})",
                hint="use a preset made for this model (stylehunt list --model ...)",
            )
        if theirs is not None and _without_family(theirs) != _without_family(mine):
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


def _without_family(fp: dict[str, Any]) -> dict[str, Any]:
    """A fingerprint without ``family``, which old fingerprints lack (it is compared on its own)."""
    return {k: v for k, v in fp.items() if k != "family"}


def _describe(fp: dict[str, Any]) -> str:
    return (
        f"{fp.get('transformer_class')} with {fp.get('num_layers')} layers x {fp.get('heads_per_layer')} heads "
        f"(head dim {fp.get('head_dim')})"
    )


def _check_settings(scale: Any, identity: str, start: Any, stop: Any) -> tuple[float, float, float]:
    """``(scale, start, stop)`` as floats, once each is checked."""
    w = as_real(scale)
    if w is None or not math.isfinite(w) or w < 0:
        raise GuidanceError(f"Expected `scale` to be a finite number >= 0, but got {scale!r}")
    if identity not in IDENTITY_MODES:
        raise GuidanceError(f"Expected `identity` to be one of {IDENTITY_MODES}, but got {identity!r}")
    fractions = []
    for name, value in (("start", start), ("stop", stop)):
        x = as_real(value)
        if x is None or not 0.0 <= x <= 1.0:
            raise GuidanceError(f"Expected `{name}` to be a fraction between 0.0 and 1.0, but got {value!r}")
        fractions.append(x)
    if fractions[0] >= fractions[1]:
        raise GuidanceError(f"Expected `start` < `stop`, but got start={start} and stop={stop}")
    return w, fractions[0], fractions[1]


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


def _resolve_strengths(presets: Sequence[PresetLike], strengths: Any) -> tuple[float, ...]:
    if strengths is None:
        return tuple(p.strength for p in presets)
    if getattr(strengths, "ndim", 0) == 0 and as_real(strengths) is not None:  # one for all (not a 1-d tensor)
        values = [strengths] * len(presets)
    else:
        # a string is iterable: strengths="0.5" would be three "strengths" ('0', '.', '5')
        if isinstance(strengths, (str, bytes)) or not hasattr(strengths, "__iter__"):
            raise GuidanceError(
                f"Expected `strengths` to be a number between 0.0 and 1.0 or a list of them (one per preset), "
                f"but got {strengths!r} ({type(strengths).__name__})"
            )
        values = list(strengths)
        if len(values) != len(presets):
            raise GuidanceError(
                f"got {len(values)} strengths for {len(presets)} presets ({', '.join(p.label for p in presets)}); "
                "pass one float for all, or one per preset"
            )
    out = []
    for preset, u in zip(presets, values):
        x = as_real(u)
        if x is None or not 0.0 <= x <= 1.0:
            raise GuidanceError(f"Expected strength for {preset.label} to be between 0.0 and 1.0, but got {u!r}")
        out.append(x)
    return tuple(out)


def _resolve_scale(presets: Sequence[PresetLike], scale: float | None) -> float:
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


def _is_preset(obj: Any) -> bool:
    return all(hasattr(obj, name) for name in PRESET_ATTRIBUTES)


def _as_presets(presets: PresetLike | Sequence[PresetLike]) -> tuple[PresetLike, ...]:
    if _is_preset(presets):
        return (presets,)
    if isinstance(presets, (str, bytes)) or not isinstance(presets, Sequence):
        raise GuidanceError(
            f"Expected a Preset or a list of Presets, but got {type(presets).__name__}; "
            "load references with stylehunt.apply (top level) or stylehunt.load_preset"
        )
    out = tuple(presets)
    for p in out:
        if not _is_preset(p):
            raise GuidanceError(f"Expected Preset objects, but got {type(p).__name__}: {p!r}")
    if not out:
        raise GuidanceError("Expected at least one preset, but got an empty list; use stylehunt.remove(pipe) to clear")
    labels = [p.label for p in out if p.name]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise GuidanceError(f"preset(s) given twice: {', '.join(dupes)}")
    unnamed = [p for p in out if not p.name]
    if any(p == q for i, p in enumerate(unnamed) for q in unnamed[i + 1:]):  # the same heads and settings twice
        twice = next(p for i, p in enumerate(unnamed) if p in unnamed[i + 1:])
        raise GuidanceError(f"the same preset was given twice: {twice.label}; give it once (a higher strength "
                            "perturbs its heads more)")
    return out


def _install(pipe: Any, adapter: Adapter, grid: HeadGrid, config: AppliedGuidance) -> None:
    transformers = denoisers_of(pipe, adapter)
    for transformer in transformers:
        owner = _OWNER.get(transformer)
        if owner is not None and owner is not pipe:
            raise GuidanceError(
                f"this transformer is already guided through another pipeline object ({type(owner).__name__}); "
                "call stylehunt.remove() on that pipeline first"
            )
        _check_backends(transformer, grid, config.table)
        check_hooks(transformer)
    previous = _APPLIED.get(pipe)
    state = GuidedPipeline(pipe, adapter, grid, config)
    if previous is not None:
        previous.uninstall()
    try:
        state.install()
    except BaseException:
        if previous is not None:
            previous.install()
        raise
    if previous is not None:
        for transformer in previous.transformers:
            _OWNER.pop(transformer, None)
    _APPLIED[pipe] = state
    for transformer in transformers:
        _OWNER[transformer] = pipe


def apply(
    pipe: Any,
    presets: PresetLike | Sequence[PresetLike],
    *,
    scale: float | None = None,
    strengths: float | Sequence[float] | None = None,
    identity: str = "joint",
    start: float = 0.0,
    stop: float = 1.0,
) -> None:
    """Guide ``pipe`` with one or more presets; replaces whatever was applied before.

    Args:
        pipe: a stock diffusers pipeline of a supported family (see ``SUPPORTED_PIPELINES``).
        presets: one `stylehunt.Preset` or a list of them (any object with the attributes in
            `PRESET_ATTRIBUTES` will do). All are perturbed in one extra forward row.
        scale: guidance scale ``w >= 0``; default: the presets' (common) default scale.
        strengths: SoftPAG ``u`` overriding each preset's own: a float for all or one per preset.
        identity: ``"joint"`` (every token attends to itself; the paper's choice) or ``"image"``
            (diffusers' SD3 PAG: image queries keep their own image key plus all text keys), where
            the family allows it (not Chroma: its text padding mask reaches the attention).
        start, stop: guide only while ``start <= i / len(scheduler.timesteps) < stop`` for step index i.

    Raises `stylehunt.errors.StylehuntError` subclasses; on error the pipeline is unchanged.
    """
    settings = check_settings(presets, scale=scale, strengths=strengths, identity=identity, start=start, stop=stop)
    adapter, grid = _check_pipeline(pipe)
    _check_compatibility(pipe, grid, settings.presets)
    _check_identity(pipe, adapter, settings.identity)
    table = strength_table(grid, settings.presets, settings.strengths)
    config = AppliedGuidance(**_fields_of(settings), table=table)
    _install(pipe, adapter, grid, config)
    logger.info(
        "stylehunt: applied %s (w=%g, u=%s, identity=%s)", ", ".join(config.names), config.scale, config.strengths,
        config.identity,
    )


def apply_table(
    pipe: Any,
    table: torch.Tensor,
    *,
    scale: float,
    identity: str = "joint",
    start: float = 0.0,
    stop: float = 1.0,
    share_prefix: bool = True,
) -> None:
    """Low-level: guide with a raw strength table instead of presets (used by the search).

    ``table`` is ``(num_layers, max_heads)`` (the same heads for every image) or
    ``(num_images, num_layers, max_heads)``: one head set per conditional row, so one pipeline call
    evaluates several candidate head sets side by side; each row's perturbed copy is computed from
    its own first perturbed block on, and rows with identical inputs (candidates of one prompt and
    seed at the first step) are computed once. ``share_prefix=False`` computes every row through
    every block, as before the shared prefix (to measure what sharing saves).
    """
    adapter, grid = _check_pipeline(pipe)
    w, start, stop = _check_settings(scale, identity, start, stop)
    _check_identity(pipe, adapter, identity)
    config = AppliedGuidance((), (), w, identity, start, stop, _check_table(grid, table), share_prefix=bool(share_prefix))
    _install(pipe, adapter, grid, config)


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
    _check_identity(transformer, adapter_for_transformer(grid.transformer_class), identity)
    table = _check_table(grid, table)
    if table.dim() == 2:
        table = table[None]
    perturber = HeadPerturber(transformer, grid, table, identity)
    heads = heads_by_layer(table)

    def forward(*args, **kwargs):
        # the strengths go where the batch is, read at every call (offload hooks keep weights elsewhere)
        batch = next((a for a in (*args, *kwargs.values()) if torch.is_tensor(a) and a.dim() > 0), None)
        device = table.device if batch is None else batch.device
        perturber.rows = PerturbedRows(start=start, table=table.to(device), text_len=text_len, heads=heads)
        try:
            return patch.inner(*args, **kwargs)
        finally:
            perturber.rows = None

    perturber.install()
    try:
        patch = ForwardPatch(transformer, forward)
    except BaseException:
        perturber.uninstall()
        raise
    try:
        yield
    finally:
        patch.restore()
        perturber.uninstall()


def _applied_state(pipe: Any) -> GuidedPipeline | None:
    """What ``pipe`` carries; a value stylehunt could never have applied to (``object()``, a string) is refused
    by name instead of the weak-reference table's raw TypeError."""
    try:
        return _APPLIED.get(pipe)
    except TypeError:
        raise GuidanceError(
            f"Expected a diffusers pipeline, but got {type(pipe).__name__}: {pipe!r:.80}",
            hint="pass the pipeline stylehunt.apply was given",
        ) from None


def remove(pipe: Any) -> None:
    """Remove everything stylehunt applied to ``pipe`` (a no-op when nothing is applied).

    What is attached is kept in module-level weak maps, not on the pipeline: removal deletes the
    instance attributes (or restores the ones that were there), so the modules fall back to their class
    ``forward`` and nothing of ours remains.
    """
    state = _applied_state(pipe)
    if state is None:
        return
    state.uninstall()
    del _APPLIED[pipe]
    for transformer in state.transformers:
        _OWNER.pop(transformer, None)


def skipped_block_rows(pipe: Any) -> float:
    """Block-rows the shared prefix left out since guidance was applied to ``pipe``: blocks not computed,
    in units of one row through every block (0.0 when nothing is applied)."""
    state = _APPLIED.get(pipe)
    if state is None:
        return 0.0
    return sum(d.prefix.skipped / d.prefix.num_blocks for d in state.denoisers)


def get_applied(pipe: Any) -> AppliedGuidance | None:
    """What is applied to ``pipe``, or ``None``."""
    state = _applied_state(pipe)
    return None if state is None else state.config


@contextlib.contextmanager
def applied(pipe: Any, presets: PresetLike | Sequence[PresetLike], **kwargs: Any) -> Iterator[None]:
    """``apply`` for the duration of a ``with`` block, then restore what was applied before (if anything)."""
    before = get_applied(pipe)
    apply(pipe, presets, **kwargs)
    try:
        yield
    finally:
        remove(pipe)
        if before is not None:
            _install(pipe, *_check_pipeline(pipe), before)
