"""Generating the search's images: one pipeline call evaluates several head sets side by side (`Sampler`).

An "image" is a sample: a PIL image, or for a video pipeline (Wan) a list of PIL frames. Nothing
here knows a model family: encoding, CFG and where rows are counted come from the family adapter.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ..engine.families import adapter_for_pipeline
from ..errors import SearchError
from .settings import HeadSet, SearchSettings

__all__ = ["Sampler"]


class Sampler:
    """Generates images for jobs (head set, prompt, seed) on one pipeline and counts transformer rows.

    A context manager: entering hooks the row counter and silences the pipeline's progress bar;
    leaving restores both.

    Each image of a call is a *job*, a (head set, prompt-seed pair) couple. Its row of the per-row
    strength table (`stylehunt.apply_table`) perturbs its own head set; it has its own
    ``torch.Generator`` seeded by its pair; prompt embeddings are computed once per prompt (a batch of
    one) and concatenated. So a row never depends on its neighbours in the batch, beyond float noise.
    It also counts the transformer's forward rows (perturbed rows included) and the block-rows actually
    computed (rows entering the transformer less the blocks the engine's shared prefix left out, in
    units of one row through every block).
    """

    def __init__(self, pipe: Any, grid: Any, settings: SearchSettings):
        self.pipe = pipe
        self.grid = grid
        self.settings = settings
        self.adapter = adapter_for_pipeline(pipe)
        self.max_heads = max(grid.heads_per_layer)
        self.rows = 0
        self.skipped = 0.0  # block-rows the engine's shared prefix left out (see block_rows)
        self._embeds: dict[tuple[str, bool], dict[str, torch.Tensor]] = {}
        self._hooks: list[Any] = []
        self._previous_bar: Any = None

    def __enter__(self) -> "Sampler":
        # the module that first sees the (possibly extended) latent batch, in every denoiser present
        # (Wan 2.2's two experts each run part of the steps)
        denoisers = [d for d in (getattr(self.pipe, name, None) for name in self.adapter.denoisers) if d is not None]
        embedders = [getattr(d, self.adapter.input_embedder, None) for d in denoisers]
        for denoiser, embedder in zip(denoisers, embedders):
            if embedder is None:
                raise SearchError(
                    f"cannot count rows: {type(denoiser).__name__} has no `{self.adapter.input_embedder}` "
                    f"(the input embedder the {self.adapter.name!r} family adapter names)"
                )

        def count(_module, args, kwargs):
            x = args[0] if args else next(iter(kwargs.values()))
            self.rows += int(x.shape[0])

        self._hooks = [e.register_forward_pre_hook(count, with_kwargs=True) for e in embedders]
        self._previous_bar = getattr(self.pipe, "_progress_bar_config", None)
        self.pipe.set_progress_bar_config(disable=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        if self._previous_bar is None:
            if hasattr(self.pipe, "_progress_bar_config"):
                del self.pipe._progress_bar_config
        else:
            self.pipe._progress_bar_config = self._previous_bar

    @property
    def block_rows(self) -> float:
        """Search work in block-rows: transformer blocks computed / blocks per row (``rows`` less
        what the shared prefix left out of the blocks)."""
        return self.rows - self.skipped

    # -- prompts --------------------------------------------------------------------------------
    def _encode_values(self, **kwargs: Any) -> dict[str, torch.Tensor]:
        """One ``encode_prompt`` call, its values named by the call arguments that take them back.

        Only ``device`` is passed besides the prompt arguments: the per-prompt count (one sample) is
        every pipeline's default, and its name differs (``num_images_per_prompt``,
        ``num_videos_per_prompt`` for Wan, none for Z-Image).
        """
        adapter = self.adapter
        values = self.pipe.encode_prompt(**dict(adapter.encode_args), device=self.pipe._execution_device, **kwargs)
        if adapter.encode_one_value:
            values = (values,)
        if len(values) != len(adapter.encode_returns):
            raise SearchError(
                f"{type(self.pipe).__name__}.encode_prompt returned {len(values)} values, but the {adapter.name!r} "
                f"family adapter names {len(adapter.encode_returns)} (`encode_returns`)"
            )
        return {name: value for name, value in zip(adapter.encode_returns, values) if name is not None}

    def _encode(self, prompt: str) -> dict[str, torch.Tensor]:
        cfg = self.settings.cfg_scale is not None
        key = (prompt, cfg)
        if key in self._embeds:
            return self._embeds[key]
        with torch.no_grad():
            if self.adapter.encode_negative == "together":
                out = self._encode_values(
                    prompt=prompt, do_classifier_free_guidance=cfg, negative_prompt="" if cfg else None
                )
                if not cfg:
                    out = {k: v for k, v in out.items() if not k.startswith("negative_")}
            else:  # "separate": the empty prompt is a second call
                out = self._encode_values(prompt=prompt)
                # a guidance-distilled pipeline of the family (FLUX.2-dev) takes no negative prompt: there
                # `cfg_scale_arg` is its embedded guidance, and one call per step is all it makes
                if cfg and "negative_prompt_embeds" in inspect.signature(self.pipe.__call__).parameters:
                    out.update({f"negative_{k}": v for k, v in self._encode_values(prompt="").items()})
        self._embeds[key] = out
        return out

    def _call_kwargs(self, prompts: list[str]) -> dict[str, Any]:
        parts = _common_length([self._encode(p) for p in prompts])
        return {k: _join([p[k] for p in parts]) for k in parts[0]}

    def _cfg_scale(self) -> float | None:
        """The CFG scale of the search's calls: the settings', else the family's "off" value."""
        return self.settings.cfg_scale if self.settings.cfg_scale is not None else self.adapter.cfg_off_scale

    # -- generation -----------------------------------------------------------------------------
    def table(self, sets: list[HeadSet]) -> torch.Tensor:
        """The per-row strength table: row i holds the search's u at the heads of ``sets[i]``."""
        table = torch.zeros(len(sets), self.grid.num_layers, self.max_heads)
        for i, heads in enumerate(sets):
            for layer, head in heads:
                table[i, layer, head] = self.settings.strength
        return table

    def generate(self, sets: list[HeadSet], pairs: list[tuple[str, int]], steps: int) -> list[Any]:
        """One pipeline call: sample i (an image, or a video's frames) uses head set ``sets[i]`` and pair ``pairs[i]``."""
        from ..engine import apply_table, remove, skipped_block_rows

        s = self.settings
        table = self.table(sets)
        guided = bool(table.any())
        kwargs = {**self._call_kwargs([p for p, _ in pairs]), **dict(self.adapter.call_args)}
        if s.frames is not None:
            kwargs["num_frames"] = s.frames
        generators = [torch.Generator().manual_seed(int(seed)) for _, seed in pairs]
        if guided:
            apply_table(self.pipe, table, scale=s.scale, identity=s.identity, share_prefix=s.share_prefix)
        try:
            # the CFG scale: a call argument, or a copy of the component that holds it (HunyuanVideo
            # 1.5's guider) for this call only
            with self.adapter.cfg_call(self.pipe, self._cfg_scale()) as cfg_kwargs:
                out = self.pipe(
                    **kwargs,
                    **cfg_kwargs,
                    generator=generators,
                    num_inference_steps=steps,
                    height=s.height,
                    width=s.width,
                    output_type="pil",
                )
        finally:
            if guided:
                self.skipped += skipped_block_rows(self.pipe)
                remove(self.pipe)
        # image pipelines return `images`; video pipelines `frames`, one list of PIL frames per video
        return list(out.images if hasattr(out, "images") else out.frames)


def _join(values: list[Any]) -> Any:
    """One call argument from each prompt's value: tensors are concatenated on the batch dim; per-sample
    lists (Z-Image's embeddings: one tensor per prompt, each of its own length) are joined."""
    if isinstance(values[0], list):
        return [item for value in values for item in value]
    return torch.cat(values)


def _common_length(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each prompt's values right-padded to the longest prompt's tokens (dim 1), as one ``encode_prompt``
    call over all the prompts gives them: embeddings with zeros, their masks with zeros after the ones.

    Most pipelines pad every prompt to a fixed length, and nothing changes. Qwen-Image's encode a
    prompt to its own length and return no mask (``None``) when no token is padding: such a mask
    becomes all ones (the pipeline drops an all-ones mask again, and warns about embeddings passed
    without one), and with the padded tokens masked out a prompt's image does not depend on the
    other prompts' lengths. A mask is a value named after its embeddings (``prompt_embeds_mask``).
    """
    out = [dict(p) for p in parts]
    for name in parts[0]:
        values = [p[name] for p in parts]
        if "mask" in name or not all(torch.is_tensor(v) and v.dim() >= 2 for v in values):
            continue
        longest = max(v.shape[1] for v in values)
        masks = [m for m in parts[0] if m.startswith(name) and "mask" in m]
        if not masks and any(v.shape[1] != longest for v in values):
            raise SearchError(
                f"prompts encode to different lengths of `{name}` ({sorted({v.shape[1] for v in values})} tokens) "
                "and the pipeline returns no mask for them, so they cannot be batched"
            )
        for part, padded in zip(parts, out):
            value = part[name]
            pad = longest - value.shape[1]
            for m in masks:
                mask = part[m]
                if mask is None:
                    mask = torch.ones(value.shape[:2], dtype=torch.long, device=value.device)
                padded[m] = torch.cat([mask, mask.new_zeros(mask.shape[0], pad)], 1) if pad else mask
            if pad:
                padded[name] = torch.cat([value, value.new_zeros(value.shape[0], pad, *value.shape[2:])], 1)
    return out
