"""Generating the search's images: one pipeline call evaluates several head sets side by side.

Each image of a call is a *job*, a (head set, prompt-seed pair) couple. Its row of the per-row
strength table (:func:`stylehunt.apply_table`) perturbs its own head set; it has its own
``torch.Generator`` seeded by its pair; prompt embeddings are computed once per prompt (a batch of
one) and concatenated. So a row never depends on its neighbours in the batch, beyond float noise.
:class:`Sampler` also counts the transformer's forward rows (perturbed rows included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..errors import SearchError
from .settings import HeadSet, SearchSettings, pipeline_family

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["Sampler"]


class Sampler:
    """Generates images for jobs (head set, prompt, seed) on one pipeline and counts transformer rows.

    A context manager: entering hooks the row counter and silences the pipeline's progress bar;
    leaving restores both.
    """

    def __init__(self, pipe: Any, grid: Any, settings: SearchSettings):
        self.pipe = pipe
        self.grid = grid
        self.settings = settings
        self.family = pipeline_family(pipe)
        self.max_heads = max(grid.heads_per_layer)
        self.rows = 0
        self._embeds: dict[tuple[str, bool], dict[str, torch.Tensor]] = {}
        self._hook = None
        self._previous_bar: Any = None

    def __enter__(self) -> "Sampler":
        transformer = self.pipe.transformer
        # the module that first sees the (possibly extended) latent batch: SD3's patch embedding,
        # FLUX's x_embedder (FLUX's pos_embed is the RoPE over token ids, not the batch)
        embedder = getattr(transformer, "x_embedder" if self.family == "flux" else "pos_embed", None)
        if embedder is None:  # pragma: no cover - both supported classes have one
            raise SearchError(f"cannot find the input embedder of {type(transformer).__name__} to count rows")

        def count(_module, args, kwargs):
            x = args[0] if args else next(iter(kwargs.values()))
            self.rows += int(x.shape[0])

        self._hook = embedder.register_forward_pre_hook(count, with_kwargs=True)
        self._previous_bar = getattr(self.pipe, "_progress_bar_config", None)
        self.pipe.set_progress_bar_config(disable=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self._previous_bar is None:
            if hasattr(self.pipe, "_progress_bar_config"):
                del self.pipe._progress_bar_config
        else:
            self.pipe._progress_bar_config = self._previous_bar

    # -- prompts --------------------------------------------------------------------------------
    def _encode(self, prompt: str) -> dict[str, torch.Tensor]:
        cfg = self.settings.cfg_scale is not None
        key = (prompt, cfg)
        if key in self._embeds:
            return self._embeds[key]
        pipe = self.pipe
        device = pipe._execution_device
        with torch.no_grad():
            if self.family == "sd3":
                pe, npe, ppe, nppe = pipe.encode_prompt(
                    prompt=prompt,
                    prompt_2=None,
                    prompt_3=None,
                    device=device,
                    num_images_per_prompt=1,
                    do_classifier_free_guidance=cfg,
                    negative_prompt="" if cfg else None,
                )
                out = {"prompt_embeds": pe, "pooled_prompt_embeds": ppe}
                if cfg:
                    out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=nppe)
            else:
                pe, ppe, _ = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=device, num_images_per_prompt=1)
                out = {"prompt_embeds": pe, "pooled_prompt_embeds": ppe}
                if cfg:
                    npe, nppe, _ = pipe.encode_prompt(prompt="", prompt_2=None, device=device, num_images_per_prompt=1)
                    out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=nppe)
        self._embeds[key] = out
        return out

    def _call_kwargs(self, prompts: list[str]) -> dict[str, Any]:
        parts = [self._encode(p) for p in prompts]
        kwargs: dict[str, Any] = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        cfg = self.settings.cfg_scale
        if self.family == "sd3":
            kwargs["guidance_scale"] = cfg if cfg is not None else 1.0  # <= 1: the pipeline skips CFG
        elif cfg is not None:
            kwargs["true_cfg_scale"] = cfg
        return kwargs

    # -- generation -----------------------------------------------------------------------------
    def table(self, sets: list[HeadSet]) -> torch.Tensor:
        """The per-row strength table: row i holds the search's u at the heads of ``sets[i]``."""
        table = torch.zeros(len(sets), self.grid.num_layers, self.max_heads)
        for i, heads in enumerate(sets):
            for layer, head in heads:
                table[i, layer, head] = self.settings.strength
        return table

    def generate(self, sets: list[HeadSet], pairs: list[tuple[str, int]], steps: int) -> list["Image.Image"]:
        """One pipeline call: image i uses head set ``sets[i]`` and prompt-seed pair ``pairs[i]``."""
        from ..engine import apply_table, remove

        s = self.settings
        table = self.table(sets)
        guided = bool(table.any())
        kwargs = self._call_kwargs([p for p, _ in pairs])
        generators = [torch.Generator().manual_seed(int(seed)) for _, seed in pairs]
        if guided:
            apply_table(self.pipe, table, scale=s.scale, identity=s.identity)
        try:
            out = self.pipe(
                **kwargs,
                generator=generators,
                num_inference_steps=steps,
                height=s.height,
                width=s.width,
                output_type="pil",
            )
        finally:
            if guided:
                remove(self.pipe)
        return list(out.images)
