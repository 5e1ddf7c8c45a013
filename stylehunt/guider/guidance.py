"""``StyleHeadGuidance``: stylehunt's head guidance as a diffusers guider, for modular pipelines.

The base guider's batches plus one perturbed *style* batch; the prediction is the base's plus
``scale * (pred_cond - pred_style)``, as in `stylehunt.apply`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import weakref
from typing import TYPE_CHECKING, Any, Sequence

import torch
from diffusers.guiders import ClassifierFreeGuidance
from diffusers.guiders.guider_utils import BaseGuidance, GuiderOutput

from ..engine import check_presets, check_settings, perturbed, strength_table
from ..engine.forward_patch import ForwardPatch
from ..engine.guided_forward import finite
from ..errors import GuidanceError
from ..scalars import as_real
from .config import decode_base, encode_base, resolve_entries

if TYPE_CHECKING:
    from diffusers.modular_pipelines.modular_pipeline import BlockState

    from ..registry import Preset

__all__ = ["StyleHeadGuidance"]

STYLE = "pred_cond_style"
#: The largest guider_config.json read (inline presets are at most 1 MiB each).
MAX_CONFIG_BYTES = 16 * 1024 * 1024

#: diffusers' BaseGuidance.__init__ logs this for every guider it builds, so a StyleHeadGuidance (its own
#: __init__, its CFG base, a copy by ``new``/``from_config``) would print it 2-4 times per guider.
_EXPERIMENTAL = "Guiders are currently an experimental feature"
_GUIDER_LOGGER = "diffusers.guiders.guider_utils"


class _OwnConstruction(logging.Filter):
    """Drops diffusers' experimental notice logged by this thread while stylehunt builds its own guider; a
    guider the user builds (another thread, or outside `StyleHeadGuidance.__init__`) still logs it."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread == self.thread and str(record.msg).startswith(_EXPERIMENTAL))


@contextlib.contextmanager
def _quiet_experimental_notice():
    logger, own = logging.getLogger(_GUIDER_LOGGER), _OwnConstruction()
    logger.addFilter(own)
    try:
        yield
    finally:
        logger.removeFilter(own)


class StyleHeadGuidance(BaseGuidance):
    """Style presets (head-level SoftPAG) as a guider for diffusers' modular pipelines.

    Args:
        presets: one preset or a list: `stylehunt.Preset` objects, references
            (``"sd3-medium/golden-hour@1"``, ``"hf-hub:owner/repo"``, a file path), or the inline
            dicts ``guider_config.json`` stores. All are perturbed in one style batch.
        strengths, scale, identity, start, stop: as in `stylehunt.apply`. ``scale`` is the
            style term's ``w`` (``None``: the presets' own); ``start``/``stop`` bound the style term
            only, as fractions of the steps the denoise loop runs (``start <= i / N < stop``).
        guidance_scale: CFG scale, exactly as diffusers' ``ClassifierFreeGuidance``'s in the same
            modular pipeline (1.0 turns CFG off). Not used when ``base`` is given.
        base: another diffusers guider (``ClassifierFreeGuidance``, ``AdaptiveProjectedGuidance``,
            ``ClassifierFreeZeroStarGuidance``, ...) that makes its batches and its prediction; the
            style term is added after it, and the base's own ``guidance_scale`` is the one used.
        enabled: like every diffusers guider's; a disabled guider runs the conditional batch only.

    Bad settings raise here; a preset for another model, a head out of range or an unsupported
    family raise at the first ``prepare_models``, before the first transformer forward.

    A modular denoise step drives its ``guider`` component once per step::

        guider.set_state(step=i, num_inference_steps=N, timestep=t)
        batches = guider.prepare_inputs({...: (cond, uncond)})      # or prepare_inputs_from_block_state
        for b in batches:
            guider.prepare_models(transformer); b.noise_pred = transformer(**b); guider.cleanup_models(transformer)
        pred = guider(batches).pred

    The base is diffusers' `ClassifierFreeGuidance` unless ``base=`` names another. The style batch is
    the conditional inputs run with the presets' heads perturbed (`stylehunt.engine.perturbed`, the
    perturbation ``apply`` uses). It is recognised by its position (the last one), not by parity, so it
    is perturbed with CFG off too, and it always takes the conditional inputs (diffusers' PAG/SLG take
    the negative prompt's when CFG is off, and perturb nothing).
    """

    _input_predictions = ["pred_cond", "pred_uncond", STYLE]

    def __init__(
        self,
        presets: Any,
        strengths: float | Sequence[float] | None = None,
        scale: float | None = None,
        guidance_scale: float = 5.0,
        identity: str = "joint",
        start: float = 0.0,
        stop: float = 1.0,
        base: BaseGuidance | dict[str, Any] | None = None,
        enabled: bool = True,
    ):
        objects, entries = resolve_entries(presets)
        settings = check_settings(objects, scale=scale, strengths=strengths, identity=identity, start=start, stop=stop)
        self._presets, self._strengths, self._scale = settings.presets, settings.strengths, settings.scale
        start, stop = settings.start, settings.stop
        cfg_scale = as_real(guidance_scale)
        if cfg_scale is None or not math.isfinite(cfg_scale):
            raise GuidanceError(f"Expected `guidance_scale` to be a finite number, but got {guidance_scale!r}")
        with _quiet_experimental_notice():  # the guiders stylehunt builds here; a `base=` object was the user's
            if base is None:
                self._base = ClassifierFreeGuidance(guidance_scale=cfg_scale, enabled=enabled)
                stored_base = None
            else:
                self._base = decode_base(base) if isinstance(base, dict) else base
                # a NaN or infinite CFG scale in the base makes its own prediction non-finite, which the
                # finite-term check passes on as the model's: refused here instead of a black image
                base_scale = as_real(getattr(self._base, "guidance_scale", 0.0))
                if base_scale is None or not math.isfinite(base_scale):
                    raise GuidanceError(
                        "Expected the base guider's `guidance_scale` to be a finite number, but got "
                        f"{getattr(self._base, 'guidance_scale', None)!r}", param="base")
                stored_base = encode_base(self._base)
                if not enabled:
                    self._base.disable()
            super().__init__(start, stop, enabled)
        self._identity = identity
        self._tables: weakref.WeakKeyDictionary[torch.nn.Module, torch.Tensor] = weakref.WeakKeyDictionary()
        self._style_rows: tuple[int, int] = (0, 0)  # (batch size, text tokens) of this step's style batch
        self._perturbing: contextlib.ExitStack | None = None
        self.register_to_config(
            presets=entries,
            strengths=_plain(strengths),
            scale=None if scale is None else self._scale,
            guidance_scale=cfg_scale,
            identity=identity,
            start=start,
            stop=stop,
            base=stored_base,
            enabled=enabled,
        )

    @classmethod
    def _dict_from_json_file(cls, json_file: Any) -> dict[str, Any]:
        # diffusers' from_pretrained reads guider_config.json with a bare json.loads: a file nested
        # 50,000 deep exhausts the stack (a raw RecursionError). stylehunt's bounded reader refuses it
        # first, naming the file; a guider config holds inline presets, each at most 1 MiB.
        from ..files import read_json

        return read_json(json_file, max_bytes=MAX_CONFIG_BYTES, what=str(json_file), strict=False,
                         error=GuidanceError)

    # -- what is applied ------------------------------------------------------------------------------
    @property
    def presets(self) -> tuple[Preset, ...]:
        return self._presets

    @property
    def strengths(self) -> tuple[float, ...]:
        """Each preset's SoftPAG ``u`` (``strengths`` if given, else the presets' own)."""
        return self._strengths

    @property
    def scale(self) -> float:
        """The style term's ``w``."""
        return self._scale

    @property
    def base(self) -> BaseGuidance:
        """The guider that makes the CFG (or other) batches and prediction."""
        return self._base

    # -- state -----------------------------------------------------------------------------------------
    def enable(self) -> None:
        super().enable()
        self._base.enable()

    def disable(self) -> None:
        super().disable()
        self._base.disable()

    def set_state(self, step: int, num_inference_steps: int, timestep: torch.Tensor) -> None:
        super().set_state(step, num_inference_steps, timestep)
        self._base.set_state(step, num_inference_steps, timestep)

    def _is_style_enabled(self) -> bool:
        """Whether this step has a style batch; before the first step, whether any step may have one
        (modular pipelines read ``num_conditions`` then, to decide whether to encode the negative prompt)."""
        if not self._enabled or self._scale == 0 or not any(u > 0 for u in self._strengths):
            return False
        if self._num_inference_steps is None:
            return True
        return self._start <= self._step / self._num_inference_steps < self._stop

    @property
    def num_conditions(self) -> int:
        return self._base.num_conditions + int(self._is_style_enabled())

    @property
    def is_conditional(self) -> bool:
        return self._count_prepared > self._base.num_conditions or self._base.is_conditional

    # -- what a base guider with passes of its own exposes (LTX-2's LTX2Guidance: CFG, STG, modality) ---
    def active_predictions(self) -> list[str]:
        """The base guider's passes this step, then the style batch's (the LTX-2 denoise step asks each guider)."""
        own = getattr(self._base, "active_predictions", None)
        passes = list(own()) if own else self._base._input_predictions[: self._base.num_conditions]
        return passes + [STYLE] * self._is_style_enabled()

    @property
    def spatio_temporal_guidance_blocks(self) -> Any:
        """The base guider's STG blocks (``None`` for a base without STG); the LTX-2 denoise step reads them."""
        return getattr(self._base, "spatio_temporal_guidance_blocks", None)

    # -- batches ---------------------------------------------------------------------------------------
    def prepare_inputs(self, data: dict[str, Any]) -> list[BlockState]:
        batches = self._base.prepare_inputs(data)
        if self._is_style_enabled():
            batches.append(self._style_batch(self._prepare_batch(data, 0, STYLE)))
        return batches

    def prepare_inputs_from_block_state(self, data: BlockState, input_fields: dict[str, Any]) -> list[BlockState]:
        batches = self._base.prepare_inputs_from_block_state(data, input_fields)
        if self._is_style_enabled():
            batches.append(self._style_batch(self._prepare_batch_from_block_state(input_fields, data, 0, STYLE)))
        return batches

    def _style_batch(self, batch: BlockState) -> BlockState:
        """Note the style batch's rows (one strength row each) and text tokens (for ``identity="image"``).

        The rows are the length of the first batched input (a tensor's dim 0, or a per-sample list).
        The text is ``encoder_hidden_states``, as every family that allows the image identity names it.
        """
        fields = {k: v for k, v in batch.as_dict().items() if k != self._identifier_key}
        rows = next((len(v) if isinstance(v, (list, tuple)) else v.shape[0] for v in fields.values() if _batched(v)), None)
        if rows is None:
            raise GuidanceError(
                f"cannot tell the style batch's size: none of the guider inputs ({', '.join(fields)}) is a batched tensor or list"
            )
        text = fields.get("encoder_hidden_states")
        self._style_rows = (rows, int(text.shape[1]) if torch.is_tensor(text) and text.dim() == 3 else 0)
        return batch

    # -- models ----------------------------------------------------------------------------------------
    def prepare_models(self, denoiser: torch.nn.Module) -> None:
        table = self._table(denoiser)  # checks presets against this denoiser on its first use
        self._count_prepared += 1
        if self._count_prepared <= self._base.num_conditions:
            self._base.prepare_models(denoiser)
            return
        rows, text_len = self._style_rows
        if self._identity == "image" and not text_len:
            raise GuidanceError("identity='image' needs the text tokens as the guider input `encoder_hidden_states`")
        # Taken off after the style batch's forward even when that forward raises (the step then never
        # calls cleanup_models): a transformer left perturbed would perturb every later call. torch runs
        # `always_call` hooks for an Exception only (a pre-hook's included), not for Ctrl-C, so the forward
        # itself is wrapped too, with a `finally` that a KeyboardInterrupt (any BaseException) reaches.
        stack = contextlib.ExitStack()
        stack.enter_context(perturbed(denoiser, table.expand(rows, *table.shape), identity=self._identity, text_len=text_len))
        stack.callback(denoiser.register_forward_hook(lambda *_: stack.close(), always_call=True).remove)

        def style_forward(*args: Any, **kwargs: Any) -> Any:
            try:
                return patch.inner(*args, **kwargs)
            finally:
                stack.close()

        patch = ForwardPatch(denoiser, style_forward)
        stack.callback(patch.restore)
        self._perturbing = stack

    def cleanup_models(self, denoiser: torch.nn.Module) -> None:
        if self._perturbing is not None:
            self._perturbing.close()  # a no-op when the forward hook has closed it
            self._perturbing = None
        else:
            self._base.cleanup_models(denoiser)

    def _table(self, denoiser: torch.nn.Module) -> torch.Tensor:
        """The strength table for ``denoiser``, made (and every check run) on its first use."""
        table = self._tables.get(denoiser)
        if table is None:
            table = strength_table(check_presets(denoiser, self._presets), self._presets, self._strengths)
            with perturbed(denoiser, table, identity=self._identity):
                pass  # entering checks `identity` against the family now, before the first forward
            self._tables[denoiser] = table
        return table

    # -- prediction ------------------------------------------------------------------------------------
    def forward(self, pred_cond_style: torch.Tensor | None = None, **predictions: torch.Tensor) -> GuiderOutput:
        out = self._base.forward(**predictions)
        if pred_cond_style is None:
            return out
        term = self._scale * (out.pred_cond - pred_cond_style)
        pred = finite(out.pred + term, out.pred, self._scale, (self._step or 0, self._num_inference_steps or 1))
        return GuiderOutput(pred=pred, pred_cond=out.pred_cond, pred_uncond=out.pred_uncond)


def _batched(value: Any) -> bool:
    return (torch.is_tensor(value) and value.dim() >= 2) or (isinstance(value, (list, tuple)) and len(value) > 0)


def _plain(strengths: Any) -> Any:
    """``strengths`` as JSON (a float, a list of floats, or ``None``); the constructor validated it."""
    if strengths is None:
        return None
    if getattr(strengths, "ndim", 0) == 0 and as_real(strengths) is not None:
        return as_real(strengths)
    return [as_real(u) for u in strengths]
