"""CLIP-family text-image scorers: PickScore (transformers ``CLIPModel``) and open_clip similarity.

Both score an image against a text built from a template with ``{style}`` and/or ``{prompt}``.
Text embeddings are cached by text, because the search scores the same few prompts thousands of
times. Weights are loaded through `loading`.
"""

from __future__ import annotations

import logging
import math
import string
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ObjectiveError
from .base import Objective, check_batch_size, check_text, resolve_device, resolve_dtype
from .loading import DEFAULT_CLIP_MODEL, OpenClipBundle, load_open_clip, load_transformers

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["PickScoreObjective", "ClipObjective", "DEFAULT_PICKSCORE_MODEL", "DEFAULT_PICKSCORE_PROCESSOR"]

logger = logging.getLogger(__name__)

DEFAULT_PICKSCORE_MODEL = "yuvalkirstain/PickScore_v1"
DEFAULT_PICKSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"

_TEMPLATE_FIELDS = {"style", "prompt"}


def _check_template(template: Any, *, need_style: bool = False) -> str:
    if not isinstance(template, str) or not template.strip():
        raise ObjectiveError(f"Expected `template` to be a non-empty string with {{style}} and/or {{prompt}}, but got {template!r}")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise ObjectiveError(f"`template` {template!r} is not a valid format string: {e}") from e
    bad = fields - _TEMPLATE_FIELDS
    if bad:
        raise ObjectiveError(f"`template` {template!r} uses unknown field(s) {sorted(bad)}; only {{style}} and {{prompt}} exist")
    if not fields:
        raise ObjectiveError(f"`template` {template!r} uses neither {{style}} nor {{prompt}}, so every image would get the same text")
    if need_style and "style" not in fields:
        raise ObjectiveError(f"`template` {template!r} must contain {{style}}")
    return template


class _TextCache:
    """Normalised text embeddings by text: the search scores the same few prompts thousands of times."""

    def __init__(self, encode: Callable[[list[str]], "torch.Tensor"], max_items: int = 4096):
        self._encode = encode
        self._cache: dict[str, torch.Tensor] = {}
        self._max = max_items

    def __call__(self, texts: list[str]) -> "torch.Tensor":
        import torch

        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            if len(self._cache) + len(missing) > self._max:
                self._cache.clear()
            for text, emb in zip(missing, self._encode(missing)):
                self._cache[text] = emb
        return torch.stack([self._cache[t] for t in texts])


# ------------------------------------------------------------------------------------------------
# PickScore (transformers CLIPModel)
# ------------------------------------------------------------------------------------------------


def _features(out: Any) -> "torch.Tensor":
    """transformers 5 returns a BaseModelOutputWithPooling from get_*_features; 4.x a tensor."""
    return out.pooler_output if hasattr(out, "pooler_output") else out


class PickScoreObjective(Objective):
    """PickScore of each image against its text ``template.format(style=style, prompt=prompt)``.

    Score = ``logit_scale.exp() * cos(image_embedding, text_embedding)`` of a transformers
    ``CLIPModel`` (PickScore_v1 is a CLIP-H fine-tune; typical values 18-23), as in the PickScore
    reference code. The default template is ``"{style}, {prompt}"`` (the HeadHunter paper's style
    objective), or ``"{prompt}"`` when ``style`` is empty (plain prompt-following quality).

    Args:
        style: the style text, e.g. ``"a watercolor painting"``.
        model: Hub id, ``hf-hub:ORG/NAME`` or local folder of the CLIPModel weights.
        processor: Hub id or local folder of the matching CLIP processor (tokenizer + image processor).
        template: text format with ``{style}`` and/or ``{prompt}``.
        batch_size: images per forward pass. device: default CUDA if available, else CPU.
        dtype: ``"float32"`` (default), ``"float16"`` or ``"bfloat16"``.
        cache_dir: Hugging Face cache folder (default: ``HF_HUB_CACHE`` / ``HF_HOME``, read now).
    """

    kind = "pickscore"

    def __init__(
        self,
        style: str = "",
        *,
        model: str = DEFAULT_PICKSCORE_MODEL,
        processor: str = DEFAULT_PICKSCORE_PROCESSOR,
        template: str | None = None,
        batch_size: int = 8,
        device: Any = None,
        dtype: Any = None,
        cache_dir: str | None = None,
    ):
        super().__init__(batch_size=check_batch_size(batch_size, allow_none=False))
        self.style = check_text(style, "style")
        self.template = _check_template(template if template is not None else ("{style}, {prompt}" if self.style else "{prompt}"))
        self.model = model
        self.processor = processor
        self.device = device
        self.dtype = dtype
        self.cache_dir = cache_dir
        resolve_dtype(dtype)  # validate now, not at load time
        self._model = None
        self._processor = None
        self._texts: _TextCache | None = None

    def _load(self) -> None:
        from transformers import AutoProcessor, CLIPModel

        processor = load_transformers(
            AutoProcessor.from_pretrained, self.processor, what="PickScore processor", option="processor", cache_dir=self.cache_dir,
            setting="pickscore_processor",
        )
        model = load_transformers(CLIPModel.from_pretrained, self.model, what="PickScore model", option="model",
                                  cache_dir=self.cache_dir, setting="pickscore_model")
        model.to(device=resolve_device(self.device), dtype=resolve_dtype(self.dtype))
        model.eval().requires_grad_(False)
        self._processor, self._model = processor, model
        self._texts = _TextCache(self._encode_texts)
        logger.info("loaded PickScore model %s (processor %s)", self.model, self.processor)

    def modules(self):
        return [self._model] if self._model is not None else []

    def _max_length(self) -> int:
        limit = int(self._model.config.text_config.max_position_embeddings)
        tok_max = getattr(self._processor.tokenizer, "model_max_length", limit) or limit
        return min(limit, int(tok_max))

    def _encode_texts(self, texts: list[str]) -> "torch.Tensor":
        import torch.nn.functional as F

        model = self._model
        inputs = self._processor(text=texts, padding=True, truncation=True, max_length=self._max_length(), return_tensors="pt")
        inputs = {k: v.to(model.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        return F.normalize(_features(model.get_text_features(**inputs)).float(), dim=-1)

    def _score_batch(self, images, prompts):
        import torch.nn.functional as F

        model = self._model
        pixels = self._processor(images=[im.convert("RGB") for im in images], return_tensors="pt")["pixel_values"]
        pixels = pixels.to(device=model.device, dtype=next(model.parameters()).dtype)
        img = F.normalize(_features(model.get_image_features(pixel_values=pixels)).float(), dim=-1)
        texts = [self.template.format(style=self.style, prompt=p) for p in prompts]
        txt = self._texts(texts).to(img.device)
        return model.logit_scale.exp().float() * (img * txt).sum(-1)

    def describe(self):
        return {
            "kind": self.kind,
            "style": self.style,
            "template": self.template,
            "model": self.model,
            "processor": self.processor,
        }


# ------------------------------------------------------------------------------------------------
# CLIP similarity (open_clip)
# ------------------------------------------------------------------------------------------------


class ClipObjective(Objective):
    """open_clip similarity to the style text: ``scale * (cos(img, T(style)) - cos(img, T(negative)))``.

    ``T(x) = template.format(style=x, prompt=prompt)``; the default template ``"{style}"`` ignores the
    prompt (a pure style score); ``"A photo depicts {style}, {prompt}"`` is the paper code's variant.
    The negative term is omitted when ``negative`` is None. ``scale`` defaults to 100 (the usual
    CLIP-score convention), which puts it on a footing similar to PickScore in weighted sums.

    Args:
        style: the style text (required).
        negative: optional text to move away from, e.g. ``"a photo"``.
        model: an open_clip model name (``"ViT-L-14"``), ``hf-hub:ORG/NAME`` or ``local-dir:PATH``
            (a folder with ``open_clip_config.json`` and weights). A bare ``ORG/NAME`` is refused.
        pretrained: for a model name only: a pretrained tag (default ``"openai"``) or a checkpoint file.
        batch_size, device, dtype, cache_dir: as for `PickScoreObjective`.
    """

    kind = "clip"

    def __init__(
        self,
        style: str = "",
        *,
        negative: str | None = None,
        model: str = DEFAULT_CLIP_MODEL,
        pretrained: str | None = None,
        template: str = "{style}",
        scale: float = 100.0,
        batch_size: int = 8,
        device: Any = None,
        dtype: Any = None,
        cache_dir: str | None = None,
    ):
        super().__init__(batch_size=check_batch_size(batch_size, allow_none=False))
        self.style = check_text(style, "style", allow_empty=False)
        self.negative = None if negative is None else check_text(negative, "negative", allow_empty=False)
        self.template = _check_template(template, need_style=True)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ObjectiveError(f"Expected `scale` to be a finite number > 0, but got {scale!r}")
        self.scale = float(scale)
        self.model = model
        self.pretrained = pretrained
        self.device, self.dtype, self.cache_dir = device, dtype, cache_dir
        resolve_dtype(dtype)
        self._bundle: OpenClipBundle | None = None
        self._texts: _TextCache | None = None

    def _load(self) -> None:
        self._bundle = load_open_clip(self.model, self.pretrained, device=self.device, dtype=self.dtype, cache_dir=self.cache_dir)
        self._texts = _TextCache(self._bundle.encode_texts)

    def modules(self):
        return [self._bundle.model] if self._bundle is not None else []

    def _score_batch(self, images, prompts):
        img = self._bundle.encode_images(images)
        pos = self._texts([self.template.format(style=self.style, prompt=p) for p in prompts]).to(img.device)
        sim = (img * pos).sum(-1)
        if self.negative is not None:
            neg = self._texts([self.template.format(style=self.negative, prompt=p) for p in prompts]).to(img.device)
            sim = sim - (img * neg).sum(-1)
        return self.scale * sim

    def describe(self):
        return {
            "kind": self.kind,
            "style": self.style,
            "negative": self.negative,
            "template": self.template,
            "scale": self.scale,
            "model": self.model,
            "pretrained": self.pretrained,
        }
