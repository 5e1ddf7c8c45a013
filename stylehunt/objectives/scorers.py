"""Objectives: score generated images, higher is better, for the head search and for evaluation.

An :class:`Objective` maps ``(images, prompts)`` -- a list of PIL images and the content prompt each
was generated from -- to a float tensor of shape ``(N,)``. What exists:

=====================  ==========================================================================
``pickscore``          PickScore of the image against ``"<style>, <prompt>"`` (the paper's style
                       objective): transformers ``CLIPModel`` + processor, Hub id or local folder.
``clip``               open_clip cosine similarity x ``scale`` between the image and the style text,
                       optionally minus the similarity to a ``negative`` text.
``aesthetic``          LAION improved-aesthetic-predictor MLP on normalised open_clip image embeddings.
``brightness`` ...     weight-free image statistics: ``brightness``, ``saturation``, ``contrast``,
                       ``warmth`` (see :class:`ImageStatObjective`).
weighted sums          ``"pickscore+0.5*aesthetic"`` or :class:`WeightedObjective`.
any callable           ``fn(images, prompts) -> scores`` via :class:`CallableObjective`.
=====================  ==========================================================================

Loading. Model-backed objectives load their weights **once**, either explicitly with
:meth:`Objective.load` (what the search does up front, so a scorer that cannot be loaded fails
before any image is generated) or lazily on the first call; later calls reuse the loaded models.
Models are put in eval mode with ``requires_grad=False`` and scored under ``torch.no_grad()`` in
batches of ``batch_size``. Two objectives that need the same open_clip model (``clip`` and
``aesthetic`` on ViT-L-14) share one loaded copy while both are alive.

Offline. Weights come from a local folder/file or from the Hugging Face cache, through the real
loaders of transformers, open_clip and huggingface_hub. Before a Hub download, one quick request
checks that the Hub answers; when it does not (no network) or ``HF_HUB_OFFLINE=1`` is set, only the
cache is used, and a model that is not cached raises :class:`~stylehunt.errors.ScorerUnavailableError`
at once (huggingface_hub would otherwise retry each file for about 30 s).

``import stylehunt.objectives`` is cheap: torch, transformers and open_clip are imported inside the
functions that need them.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import math
import os
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, Sequence

from ..errors import ObjectiveError, ScorerUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = [
    "Objective",
    "PickScoreObjective",
    "ClipObjective",
    "AestheticObjective",
    "ImageStatObjective",
    "WeightedObjective",
    "CallableObjective",
    "build_objective",
    "list_objectives",
    "IMAGE_STATS",
    "DEFAULT_PICKSCORE_MODEL",
    "DEFAULT_PICKSCORE_PROCESSOR",
    "DEFAULT_CLIP_MODEL",
    "DEFAULT_CLIP_PRETRAINED",
    "DEFAULT_AESTHETIC_WEIGHTS",
]

logger = logging.getLogger(__name__)

DEFAULT_PICKSCORE_MODEL = "yuvalkirstain/PickScore_v1"
DEFAULT_PICKSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
DEFAULT_CLIP_MODEL = "ViT-L-14"
DEFAULT_CLIP_PRETRAINED = "openai"
#: The public LAION "improved aesthetic predictor" weights (MLP on CLIP ViT-L/14 embeddings).
DEFAULT_AESTHETIC_WEIGHTS = "hf-hub:camenduru/improved-aesthetic-predictor/sac+logos+ava1-l14-linearMSE.pth"

IMAGE_STATS = ("brightness", "saturation", "contrast", "warmth")

_PROBE_TIMEOUT = 10.0  # seconds for the one "does the Hub answer" request
_TEMPLATE_FIELDS = {"style", "prompt"}
_AESTHETIC_HIDDEN = (1024, 128, 64, 16)  # fixed by the public sac+logos+ava1-l14-linearMSE.pth


# ------------------------------------------------------------------------------------------------
# Hub access: offline detection, one probe, cache-only fallback
# ------------------------------------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _is_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), re-read now: huggingface_hub only reads it at import."""
    if _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE")):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hf_home() -> str:
    if os.environ.get("HF_HOME"):
        return os.path.expanduser(os.environ["HF_HOME"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return os.path.expanduser(os.path.join(xdg, "huggingface"))


def _hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> str:
    """The Hub cache to use, re-read from the environment now (huggingface_hub reads it at import)."""
    if cache_dir is not None:
        return os.fspath(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    return os.path.join(_hf_home(), "hub")


def _hub_status(repo_id: str, *, repo_type: str = "model") -> tuple[str, str]:
    """Return ``(status, reason)``: ``"online"``, ``"cache-only"`` (offline or unreachable) or ``"missing"``.

    Makes at most one short request, and none in offline mode.
    """
    if _is_offline():
        return "cache-only", "offline mode is on (HF_HUB_OFFLINE=1)"
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    from .. import __version__

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, library_name="stylehunt", library_version=__version__)
    try:
        api.repo_info(repo_id, repo_type=repo_type, timeout=_PROBE_TIMEOUT)
    except RepositoryNotFoundError as e:
        return "missing", f"the Hub has no {repo_type} repository {repo_id!r} (or it is private: set HF_TOKEN) ({e})"
    except Exception as e:  # any network/server failure: fall back to the cache
        return "cache-only", f"the Hub cannot be reached ({type(e).__name__}: {e})"
    return "online", ""


def _hub_download(repo_id: str, filename: str, *, cache_dir: str | None, local_only: bool, revision: str | None = None) -> str:
    from huggingface_hub import hf_hub_download

    from .. import __version__

    return hf_hub_download(
        repo_id,
        filename,
        revision=revision,
        cache_dir=_hub_cache_dir(cache_dir),
        local_files_only=local_only,
        library_name="stylehunt",
        library_version=__version__,
    )


def _unavailable(what: str, spec: str, reason: str, *, hint: str, cause: BaseException | None = None) -> ScorerUnavailableError:
    msg = f"{what} {spec!r} cannot be loaded: {reason}"
    if cause is not None:
        first = (str(cause).strip().splitlines() or [""])[0]
        msg += f" [{type(cause).__name__}: {first}]"
    return ScorerUnavailableError(msg, hint=hint)


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", "\\")) or spec.count("/") > 1 or os.sep != "/" and os.sep in spec


def _hf_source(spec: str, what: str) -> tuple[str, bool]:
    """Resolve a transformers model/processor spec to ``(path_or_repo_id, is_local)``.

    ``local-dir:PATH`` or an existing folder is local; ``hf-hub:ORG/NAME`` or ``ORG/NAME`` is a Hub id
    (transformers' own convention); anything else that looks like a path must exist.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ObjectiveError(f"Expected {what} to be a Hub id or a local folder, but got {spec!r}")
    spec = spec.strip()
    if spec.startswith("local-dir:"):
        path = os.path.expanduser(spec[len("local-dir:") :])
        if not os.path.isdir(path):
            raise _unavailable(what, spec, "the folder does not exist", hint="pass an existing folder written by save_pretrained")
        return path, True
    if spec.startswith("hf-hub:"):
        return spec[len("hf-hub:") :], False
    if os.path.isdir(os.path.expanduser(spec)):
        return os.path.expanduser(spec), True
    if _looks_like_path(spec):
        raise _unavailable(what, spec, "no such folder", hint="pass an existing folder written by save_pretrained, or a Hub id ORG/NAME")
    return spec, False


def _offline_hint(repo_id: str, *, option: str) -> str:
    return (
        f"download it where the Hub is reachable (`hf download {repo_id}`) into the Hugging Face cache, "
        f"or save it to a folder and pass that folder ({option}=/path/to/folder)"
    )


def _load_transformers(loader: Callable[..., Any], spec: str, *, what: str, option: str, cache_dir: str | None) -> Any:
    """Call ``loader.from_pretrained`` offline-aware; every failure becomes ScorerUnavailableError."""
    source, local = _hf_source(spec, what)
    kwargs: dict[str, Any] = {}
    if local:
        kwargs["local_files_only"] = True
        reason = f"the folder {source!r} could not be read"
    else:
        status, reason = _hub_status(source)
        if status == "missing":
            raise _unavailable(what, spec, reason, hint=f"check the id, or pass a local folder ({option}=/path/to/folder)")
        kwargs["local_files_only"] = status == "cache-only"
        kwargs["cache_dir"] = _hub_cache_dir(cache_dir)
        if status == "cache-only":
            reason = f"it is not in the Hugging Face cache ({kwargs['cache_dir']}) and {reason}"
        else:
            reason = "loading from the Hub failed"
    try:
        return loader(source, **kwargs)
    except Exception as e:  # transformers raises OSError/ValueError/... for missing or bad files
        hint = _offline_hint(source, option=option) if not local else "pass a folder written by save_pretrained"
        raise _unavailable(what, spec, reason, hint=hint, cause=e) from e


def _resolve_device(device: Any) -> Any:
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ObjectiveError(f"Expected `device` to be a torch device such as 'cpu' or 'cuda', but got {device!r}") from e


_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def _resolve_dtype(dtype: Any) -> Any:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        name = str(dtype).replace("torch.", "")
    else:
        name = _DTYPES.get(str(dtype).lower().replace("torch.", ""), "")
    if name not in {"float32", "float16", "bfloat16"}:
        raise ObjectiveError(f"Expected `dtype` to be one of float32, float16, bfloat16, but got {dtype!r}")
    return getattr(torch, name)


# ------------------------------------------------------------------------------------------------
# Base class
# ------------------------------------------------------------------------------------------------


def _check_batch_size(batch_size: Any, *, allow_none: bool) -> int | None:
    if batch_size is None and allow_none:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ObjectiveError(f"Expected `batch_size` to be an integer >= 1, but got {batch_size!r}")
    return batch_size


def _check_text(value: Any, what: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ObjectiveError(f"Expected `{what}` to be a string, but got {value!r}")
    value = value.strip()
    if not value and not allow_empty:
        raise ObjectiveError(f"Expected `{what}` to be a non-empty string, but got {value!r}")
    return value


def _check_template(template: Any, *, need_style: bool = False) -> str:
    import string

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


class Objective:
    """Base class: ``objective(images, prompts) -> torch.Tensor`` of shape ``(N,)``, higher is better.

    Subclasses implement :meth:`_load` (optional) and :meth:`_score_batch`; the base class checks the
    inputs, loads once (thread-safe), splits into batches of ``batch_size`` under ``torch.no_grad()``
    and checks the scores (float32, on CPU, finite, one per image).

    Attributes:
        name: short label used in logs and provenance (``"pickscore"``, ``"pickscore+0.5*aesthetic"``).
        batch_size: images per forward pass; ``None`` scores the whole list at once.
    """

    kind: ClassVar[str] = "objective"

    def __init__(self, *, name: str | None = None, batch_size: int | None = None):
        self.name = name or self.kind
        self.batch_size = _check_batch_size(batch_size, allow_none=True)
        self._loaded = False
        self._load_lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has completed (weights are in memory)."""
        return self._loaded

    def load(self) -> "Objective":
        """Load the weights now (idempotent: the first call loads, later calls return at once).

        Raises :class:`~stylehunt.errors.ScorerUnavailableError` if the weights cannot be had
        offline. The search calls this before generating anything. Returns ``self``.
        """
        if not self._loaded:
            with self._load_lock:
                if not self._loaded:
                    self._load()
                    self._loaded = True
        return self

    def _load(self) -> None:
        """Load weights; called at most once. Objectives without weights do nothing."""

    def modules(self) -> list["torch.nn.Module"]:
        """The loaded torch modules (empty before :meth:`load`, and for weight-free objectives)."""
        return []

    # -- scoring ---------------------------------------------------------------------------------
    def __call__(self, images: Sequence["Image.Image"], prompts: Sequence[str] | None = None) -> "torch.Tensor":
        import torch

        images, prompts = _check_inputs(images, prompts, self.name)
        self.load()
        if not images:
            return torch.zeros(0, dtype=torch.float32)
        step = self.batch_size or len(images)
        parts = []
        with torch.no_grad():
            for start in range(0, len(images), step):
                chunk = images[start : start + step]
                raw = self._score_batch(chunk, prompts[start : start + step])
                parts.append(_as_scores(raw, len(chunk), self.name))
        return _check_finite(torch.cat(parts), self.name)

    def _score_batch(self, images: list["Image.Image"], prompts: list[str]) -> "torch.Tensor":
        raise NotImplementedError

    # -- provenance ------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-able settings for provenance; ``build_objective(obj.describe())`` rebuilds it."""
        return {"kind": self.kind}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "kind")
        return f"{type(self).__name__}({settings})"


def _check_inputs(images: Any, prompts: Any, name: str) -> tuple[list[Any], list[str]]:
    from PIL import Image

    if isinstance(images, Image.Image) or not isinstance(images, Sequence):
        raise ObjectiveError(f"Objective {name!r} expects a list of PIL images, but got {type(images).__name__}")
    images = list(images)
    for i, im in enumerate(images):
        if not isinstance(im, Image.Image):
            raise ObjectiveError(f"Objective {name!r}: images[{i}] is a {type(im).__name__}, expected a PIL.Image.Image")
    if prompts is None:
        prompts = [""] * len(images)
    elif isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise ObjectiveError(f"Objective {name!r} expects a list of prompt strings, but got {type(prompts).__name__}")
    prompts = list(prompts)
    if len(prompts) != len(images):
        raise ObjectiveError(f"Objective {name!r} got {len(images)} images but {len(prompts)} prompts; pass one prompt per image")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise ObjectiveError(f"Objective {name!r}: prompts[{i}] is a {type(p).__name__}, expected a string")
    return images, prompts


def _as_scores(raw: Any, n: int, name: str) -> "torch.Tensor":
    import torch

    try:
        scores = torch.as_tensor(raw.detach() if isinstance(raw, torch.Tensor) else raw)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ObjectiveError(f"Objective {name!r} returned {type(raw).__name__}, which is not a sequence of numbers") from e
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1 or scores.shape[0] != n:
        raise ObjectiveError(f"Objective {name!r} returned scores of shape {tuple(scores.shape)} for {n} images; expected ({n},)")
    return scores.to(device="cpu", dtype=torch.float32)


def _check_finite(scores: "torch.Tensor", name: str) -> "torch.Tensor":
    import torch

    bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
    if bad:
        raise ObjectiveError(f"Objective {name!r} returned non-finite scores at positions {bad[:10]}: {scores[bad[:10]].tolist()}")
    return scores


def _pil_to_tensor(image: "Image.Image") -> "torch.Tensor":
    """RGB float64 tensor (H, W, 3) in [0, 1]; alpha is dropped, palette/grey images converted."""
    import numpy as np
    import torch

    arr = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    return torch.from_numpy(arr)


# ------------------------------------------------------------------------------------------------
# Image statistics (no weights)
# ------------------------------------------------------------------------------------------------


class ImageStatObjective(Objective):
    """A weight-free image statistic, deterministic, computed in float64 on the RGB pixels in [0, 1].

    With ``R, G, B`` the gamma-encoded (as stored) sRGB channels scaled to [0, 1] and
    ``Y = 0.299 R + 0.587 G + 0.114 B`` the Rec. 601 luma of a pixel:

    * ``brightness``: mean of ``Y`` over all pixels. Range [0, 1].
    * ``saturation``: mean over pixels of the HSV saturation ``(max - min) / max`` of ``(R, G, B)``
      (0 for black pixels). Range [0, 1]; 0 for any grey image.
    * ``contrast``: RMS contrast, the population standard deviation of ``Y`` over pixels.
      Range [0, 0.5]; 0 for a flat image.
    * ``warmth``: mean of ``R - B`` over pixels. Range [-1, 1]; positive is warm (orange), negative
      is cool (blue), 0 for grey.

    Alpha is dropped (``Image.convert("RGB")``); prompts are ignored. Use a negative weight to
    minimise (``"-1*brightness"`` prefers dark images).
    """

    def __init__(self, stat: str, *, batch_size: int | None = None):
        if stat not in IMAGE_STATS:
            raise ObjectiveError(
                f"Unknown image statistic {stat!r}; expected one of {', '.join(IMAGE_STATS)}" + _did_you_mean(stat, IMAGE_STATS)
            )
        self.stat = stat
        self.kind = stat  # type: ignore[misc]  # instance-level: the stat is the objective's kind
        super().__init__(name=stat, batch_size=batch_size)

    def _score_batch(self, images, prompts):
        import torch

        return torch.stack([_image_stat(_pil_to_tensor(im), self.stat) for im in images])

    def describe(self) -> dict[str, Any]:
        return {"kind": self.stat}


def _image_stat(rgb: "torch.Tensor", stat: str) -> "torch.Tensor":
    import torch

    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if stat == "brightness":
        return (0.299 * r + 0.587 * g + 0.114 * b).mean()
    if stat == "contrast":
        return (0.299 * r + 0.587 * g + 0.114 * b).std(correction=0)
    if stat == "warmth":
        return (r - b).mean()
    if stat == "saturation":
        mx = rgb.amax(dim=-1)
        mn = rgb.amin(dim=-1)
        sat = torch.where(mx > 0, (mx - mn) / mx.clamp_min(1e-12), torch.zeros_like(mx))
        return sat.mean()
    raise ObjectiveError(f"Unknown image statistic {stat!r}")  # unreachable: checked in __init__


# ------------------------------------------------------------------------------------------------
# PickScore (transformers CLIPModel)
# ------------------------------------------------------------------------------------------------


def _features(out: Any) -> "torch.Tensor":
    """transformers 5 returns a BaseModelOutputWithPooling from get_*_features; 4.x a tensor."""
    return out.pooler_output if hasattr(out, "pooler_output") else out


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
        super().__init__(batch_size=_check_batch_size(batch_size, allow_none=False))
        self.style = _check_text(style, "style")
        self.template = _check_template(template if template is not None else ("{style}, {prompt}" if self.style else "{prompt}"))
        self.model = model
        self.processor = processor
        self.device = device
        self.dtype = dtype
        self.cache_dir = cache_dir
        _resolve_dtype(dtype)  # validate now, not at load time
        self._model = None
        self._processor = None
        self._texts: _TextCache | None = None

    def _load(self) -> None:
        from transformers import AutoProcessor, CLIPModel

        processor = _load_transformers(
            AutoProcessor.from_pretrained, self.processor, what="PickScore processor", option="processor", cache_dir=self.cache_dir
        )
        model = _load_transformers(CLIPModel.from_pretrained, self.model, what="PickScore model", option="model", cache_dir=self.cache_dir)
        model.to(device=_resolve_device(self.device), dtype=_resolve_dtype(self.dtype))
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
# open_clip loading (shared by clip and aesthetic)
# ------------------------------------------------------------------------------------------------


class _OpenClipBundle:
    """A loaded open_clip model with its eval transform and tokenizer (weak-ref cached by settings)."""

    def __init__(self, model: Any, preprocess: Callable[[Any], Any], tokenizer: Callable[[list[str]], Any], source: str):
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.source = source

    @property
    def embed_dim(self) -> int:
        visual = self.model.visual
        dim = getattr(visual, "output_dim", None)
        if dim is None:  # timm towers: infer from a projection
            proj = getattr(visual, "proj", None) or getattr(self.model, "text_projection", None)
            dim = proj.shape[-1] if hasattr(proj, "shape") else proj.out_features
        return int(dim)

    def encode_images(self, images: list["Image.Image"]) -> "torch.Tensor":
        import torch

        param = next(self.model.parameters())
        batch = torch.stack([self.preprocess(im.convert("RGB")) for im in images]).to(device=param.device, dtype=param.dtype)
        return self.model.encode_image(batch, normalize=True).float()

    def encode_texts(self, texts: list[str]) -> "torch.Tensor":
        tokens = self.tokenizer(texts).to(next(self.model.parameters()).device)
        return self.model.encode_text(tokens, normalize=True).float()


_OPEN_CLIP_CACHE: "weakref.WeakValueDictionary[tuple, _OpenClipBundle]" = weakref.WeakValueDictionary()
_OPEN_CLIP_LOCK = threading.Lock()


def _load_open_clip(model: str, pretrained: str | None, *, device: Any, dtype: Any, cache_dir: str | None) -> _OpenClipBundle:
    """One loaded copy per (model, pretrained, device, dtype, cache) while any objective holds it."""
    dev, dt = _resolve_device(device), _resolve_dtype(dtype)
    key = (model, pretrained, str(dev), str(dt), _hub_cache_dir(cache_dir))
    with _OPEN_CLIP_LOCK:
        bundle = _OPEN_CLIP_CACHE.get(key)
        if bundle is None:
            bundle = _create_open_clip(model, pretrained, device=dev, dtype=dt, cache_dir=cache_dir)
            _OPEN_CLIP_CACHE[key] = bundle
        return bundle


def _open_clip_not_found(model: str, names: list[str]) -> ObjectiveError:
    return ObjectiveError(
        f"open_clip has no model named {model!r}" + _did_you_mean(model, names),
        hint="see open_clip.list_models(); for a Hub repo write hf-hub:ORG/NAME, for a folder local-dir:PATH",
    )


def _resolve_open_clip(model: str, pretrained: str | None, cache_dir: str | None) -> tuple[str, dict[str, Any], str]:
    """Turn (model, pretrained) into open_clip ``create_model_from_pretrained`` arguments, offline-aware.

    Returns ``(model_name, kwargs, tokenizer_name)``. Hub files are resolved here (cache-only when
    offline or unreachable) so a missing file fails fast instead of retrying for minutes.
    """
    import open_clip

    what = "open_clip model"
    if not isinstance(model, str) or not model.strip():
        raise ObjectiveError(f"Expected `model` to be an open_clip model name, hf-hub:ORG/NAME or local-dir:PATH, but got {model!r}")
    model = model.strip()
    if model.startswith("local-dir:"):
        path = os.path.expanduser(model[len("local-dir:") :])
        if not os.path.isfile(os.path.join(path, "open_clip_config.json")):
            raise _unavailable(what, model, f"{path!r} has no open_clip_config.json", hint="pass a folder with open_clip_config.json and the weights")
        if pretrained is not None:
            raise ObjectiveError(f"`pretrained` ({pretrained!r}) does not apply to {model!r}: the folder holds the weights; drop it")
        return f"local-dir:{path}", {}, f"local-dir:{path}"
    if model.startswith("hf-hub:"):
        if pretrained is not None:
            raise ObjectiveError(f"`pretrained` ({pretrained!r}) does not apply to {model!r}: the repo holds the weights; drop it")
        repo_id = model[len("hf-hub:") :]
        status, reason = _hub_status(repo_id)
        if status == "missing":
            raise _unavailable(what, model, reason, hint="check the repo id, or pass local-dir:PATH")
        if status == "online":
            return model, {"cache_dir": _hub_cache_dir(cache_dir)}, model
        try:  # cache-only: use the cached snapshot folder as a local-dir
            config_path = _hub_download(repo_id, "open_clip_config.json", cache_dir=cache_dir, local_only=True)
            _open_clip_weights(repo_id, "open_clip_pytorch_model.bin", cache_dir=cache_dir, local_only=True)
        except ScorerUnavailableError:
            raise
        except Exception as e:
            raise _unavailable(
                what, model, f"it is not in the Hugging Face cache ({_hub_cache_dir(cache_dir)}) and {reason}", cause=e,
                hint=f"download it where the Hub is reachable (`hf download {repo_id}`), or pass model=local-dir:/path/to/folder",
            ) from e
        folder = f"local-dir:{os.path.dirname(config_path)}"
        return folder, {}, folder

    names = open_clip.list_models()
    name = model if model in names else model.replace("/", "-")
    if name not in names:
        if "/" in model:
            raise ObjectiveError(
                f"{model!r} is neither an open_clip model name nor a schema: write hf-hub:{model} for a Hub repo"
                f" or local-dir:{model} for a folder (a bare ORG/NAME is refused so nothing else loads silently)"
            )
        raise _open_clip_not_found(model, names)
    pretrained = DEFAULT_CLIP_PRETRAINED if pretrained is None else pretrained
    if os.path.isfile(os.path.expanduser(pretrained)):
        return name, {"pretrained": os.path.expanduser(pretrained)}, name
    cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(name)
        raise ObjectiveError(
            f"{pretrained!r} is neither a file nor a pretrained tag of open_clip model {name!r}; tags: {', '.join(tags) or '(none)'}"
            + _did_you_mean(pretrained, tags)
        )
    preprocess = {
        "image_mean": cfg.get("mean"),
        "image_std": cfg.get("std"),
        "image_interpolation": cfg.get("interpolation"),
        "image_resize_mode": cfg.get("resize_mode"),
        "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
    }
    preprocess = {k: v for k, v in preprocess.items() if v is not None}
    hub = cfg.get("hf_hub", "")
    if not hub:  # URL-only tag: let open_clip download it (it will fail fast without network)
        if _is_offline():
            raise _unavailable(what, f"{name}/{pretrained}", "its weights are only published at a URL and offline mode is on",
                               hint="download the checkpoint and pass its path as pretrained=/path/to/file")
        return name, {"pretrained": pretrained, "cache_dir": cache_dir, **preprocess}, name
    repo_id, filename = os.path.split(hub)  # "org/name/" means the default file name
    filename = filename or "open_clip_pytorch_model.bin"
    status, reason = _hub_status(repo_id)
    if status == "missing":
        raise _unavailable(what, f"{name}/{pretrained}", reason, hint="pass a checkpoint path as pretrained=/path/to/file")
    path = _open_clip_weights(
        repo_id, filename, cache_dir=cache_dir, local_only=status == "cache-only",
        reason=reason if status == "cache-only" else "the download failed", spec=f"{name}/{pretrained}",
    )
    return name, {"pretrained": path, **preprocess}, name


def _open_clip_weights(
    repo_id: str, filename: str, *, cache_dir: str | None, local_only: bool, reason: str = "", spec: str | None = None
) -> str:
    """Fetch (or find in the cache) an open_clip checkpoint, preferring the safetensors twin like open_clip."""
    from open_clip.pretrained import _get_safe_alternatives

    candidates = list(_get_safe_alternatives(filename)) + [filename]
    last: Exception | None = None
    for candidate in candidates:
        try:
            return _hub_download(repo_id, candidate, cache_dir=cache_dir, local_only=local_only)
        except Exception as e:  # not cached / not on the Hub: try the next name
            last = e
    where = f"it is not in the Hugging Face cache ({_hub_cache_dir(cache_dir)}) and {reason}" if local_only else reason
    raise _unavailable(
        "open_clip weights", spec or f"{repo_id}/{filename}", where,
        hint=f"download {repo_id} where the Hub is reachable (`hf download {repo_id}`), or pass pretrained=/path/to/checkpoint",
        cause=last,
    )


def _create_open_clip(model: str, pretrained: str | None, *, device: Any, dtype: Any, cache_dir: str | None) -> _OpenClipBundle:
    import open_clip
    import torch

    name, kwargs, tokenizer_name = _resolve_open_clip(model, pretrained, cache_dir)
    precision = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    source = f"{model}" + (f" ({pretrained})" if pretrained else "")
    try:
        clip_model, preprocess = open_clip.create_model_from_pretrained(name, precision=precision, device=device, **kwargs)
        tokenizer = open_clip.get_tokenizer(tokenizer_name)
    except (ScorerUnavailableError, ObjectiveError):
        raise
    except Exception as e:
        raise _unavailable("open_clip model", source, "open_clip could not build or load it", cause=e,
                           hint="check the model name and weights (open_clip.list_pretrained()), or pass local-dir:PATH") from e
    clip_model.eval().requires_grad_(False)
    logger.info("loaded open_clip model %s", source)
    return _OpenClipBundle(clip_model, preprocess, tokenizer, source)


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
        batch_size, device, dtype, cache_dir: as for :class:`PickScoreObjective`.
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
        super().__init__(batch_size=_check_batch_size(batch_size, allow_none=False))
        self.style = _check_text(style, "style", allow_empty=False)
        self.negative = None if negative is None else _check_text(negative, "negative", allow_empty=False)
        self.template = _check_template(template, need_style=True)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ObjectiveError(f"Expected `scale` to be a finite number > 0, but got {scale!r}")
        self.scale = float(scale)
        self.model = model
        self.pretrained = pretrained
        self.device, self.dtype, self.cache_dir = device, dtype, cache_dir
        _resolve_dtype(dtype)
        self._bundle: _OpenClipBundle | None = None
        self._texts: _TextCache | None = None

    def _load(self) -> None:
        self._bundle = _load_open_clip(self.model, self.pretrained, device=self.device, dtype=self.dtype, cache_dir=self.cache_dir)
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


# ------------------------------------------------------------------------------------------------
# LAION aesthetic predictor
# ------------------------------------------------------------------------------------------------


def _aesthetic_mlp(input_dim: int) -> "torch.nn.Module":
    """The improved-aesthetic-predictor MLP, same module names as the public .pth (``layers.0`` ... ``layers.7``)."""
    from torch import nn

    h1, h2, h3, h4 = _AESTHETIC_HIDDEN
    mlp = nn.Module()
    mlp.layers = nn.Sequential(
        nn.Linear(input_dim, h1),
        nn.Dropout(0.2),
        nn.Linear(h1, h2),
        nn.Dropout(0.2),
        nn.Linear(h2, h3),
        nn.Dropout(0.1),
        nn.Linear(h3, h4),
        nn.Linear(h4, 1),
    )
    mlp.forward = mlp.layers.forward  # type: ignore[method-assign]
    return mlp


def _resolve_weights_file(spec: str, cache_dir: str | None) -> str:
    """A local file, or ``hf-hub:ORG/NAME[@REVISION]/PATH/IN/REPO`` from the Hub (cache-only offline)."""
    what = "aesthetic MLP weights"
    if not isinstance(spec, str) or not spec.strip():
        raise ObjectiveError(f"Expected `weights` to be a file path or hf-hub:ORG/NAME/FILE, but got {spec!r}")
    spec = spec.strip()
    if not spec.startswith("hf-hub:"):
        path = os.path.expanduser(spec)
        if os.path.isfile(path):
            return path
        raise _unavailable(what, spec, "no such file", hint="pass a local .pth/.safetensors file, or hf-hub:ORG/NAME/FILE for a Hub file")
    parts = spec[len("hf-hub:") :].split("/")
    if len(parts) < 3 or not all(parts):
        raise ObjectiveError(f"Expected `weights` as hf-hub:ORG/NAME[@REVISION]/FILE, but got {spec!r}")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    repo_id, _, revision = repo_id.partition("@")
    status, reason = _hub_status(repo_id)
    if status == "missing":
        raise _unavailable(what, spec, reason, hint="check the repo id, or pass a local file")
    try:
        return _hub_download(repo_id, filename, cache_dir=cache_dir, local_only=status == "cache-only", revision=revision or None)
    except Exception as e:
        where = f"it is not in the Hugging Face cache ({_hub_cache_dir(cache_dir)}) and {reason}" if status == "cache-only" else "the download failed"
        raise _unavailable(what, spec, where, cause=e,
                           hint=f"download it where the Hub is reachable (`hf download {repo_id} {filename}`), or pass weights=/path/to/file") from e


def _load_state_dict(path: str) -> dict[str, Any]:
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ObjectiveError(f"{path!r} does not hold a state dict (got {type(state).__name__})")
    if state and all(not k.startswith("layers.") for k in state):  # saved from a bare nn.Sequential
        state = {f"layers.{k}": v for k, v in state.items()}
    return state


class AestheticObjective(Objective):
    """LAION improved-aesthetic-predictor: an MLP on the L2-normalised open_clip image embedding.

    The MLP layout is the public ``sac+logos+ava1-l14-linearMSE.pth``: Linear(D, 1024) - Dropout -
    Linear(1024, 128) - Dropout - Linear(128, 64) - Dropout - Linear(64, 16) - Linear(16, 1), with
    module names ``layers.0`` ... ``layers.7`` (a state dict without the ``layers.`` prefix also
    loads). The input size D follows the weights file and must equal the CLIP embedding size
    (768 for ViT-L/14, the model the public weights were trained on); a mismatch is an error.
    Scores are on the predictor's 1-10 scale (typically 4-7). Prompts are ignored.

    Args:
        weights: a local ``.pth``/``.safetensors`` file or ``hf-hub:ORG/NAME[@REV]/FILE``; default
            :data:`DEFAULT_AESTHETIC_WEIGHTS`. (``hf-hub:trl-lib/ddpo-aesthetic-predictor/aesthetic-model.pth``
            holds the same architecture.)
        clip_model, clip_pretrained: the open_clip image tower, as ``model``/``pretrained`` of
            :class:`ClipObjective` (default ViT-L-14 / openai; shared with a ``clip`` objective that
            uses the same one).
        batch_size, device, dtype, cache_dir: as for :class:`PickScoreObjective`.
    """

    kind = "aesthetic"

    def __init__(
        self,
        *,
        weights: str = DEFAULT_AESTHETIC_WEIGHTS,
        clip_model: str = DEFAULT_CLIP_MODEL,
        clip_pretrained: str | None = None,
        batch_size: int = 8,
        device: Any = None,
        dtype: Any = None,
        cache_dir: str | None = None,
    ):
        super().__init__(batch_size=_check_batch_size(batch_size, allow_none=False))
        self.weights = weights
        self.clip_model = clip_model
        self.clip_pretrained = clip_pretrained
        self.device, self.dtype, self.cache_dir = device, dtype, cache_dir
        _resolve_dtype(dtype)
        self._bundle: _OpenClipBundle | None = None
        self._mlp = None

    def _load(self) -> None:
        path = _resolve_weights_file(self.weights, self.cache_dir)  # small: fail on it before the big CLIP
        state = _load_state_dict(path)
        first = state.get("layers.0.weight")
        if first is None or getattr(first, "ndim", 0) != 2:
            raise ObjectiveError(
                f"{self.weights!r} is not an improved-aesthetic-predictor MLP: it has no 2-D 'layers.0.weight';"
                f" keys: {sorted(state)[:8]}"
            )
        mlp = _aesthetic_mlp(int(first.shape[1]))
        try:
            mlp.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ObjectiveError(
                f"{self.weights!r} does not match the improved-aesthetic-predictor layout"
                f" Linear(D,1024)-Linear(1024,128)-Linear(128,64)-Linear(64,16)-Linear(16,1): {e}"
            ) from e
        bundle = _load_open_clip(self.clip_model, self.clip_pretrained, device=self.device, dtype=self.dtype, cache_dir=self.cache_dir)
        if bundle.embed_dim != first.shape[1]:
            raise ObjectiveError(
                f"The aesthetic MLP {self.weights!r} expects {first.shape[1]}-d embeddings but open_clip model"
                f" {bundle.source!r} gives {bundle.embed_dim}-d ones; use the CLIP model the MLP was trained on"
                " (ViT-L-14 / openai for the public weights)"
            )
        param = next(bundle.model.parameters())
        mlp.to(device=param.device).eval().requires_grad_(False)
        self._bundle, self._mlp = bundle, mlp

    def modules(self):
        return [self._bundle.model, self._mlp] if self._mlp is not None else []

    def _score_batch(self, images, prompts):
        emb = self._bundle.encode_images(images)
        return self._mlp(emb).squeeze(-1)

    def describe(self):
        return {"kind": self.kind, "weights": self.weights, "clip_model": self.clip_model, "clip_pretrained": self.clip_pretrained}


# ------------------------------------------------------------------------------------------------
# Combinators
# ------------------------------------------------------------------------------------------------


class CallableObjective(Objective):
    """Wrap any ``fn(images, prompts) -> scores`` (a tensor, array or list of N numbers).

    ``batch_size=None`` (default) passes all images at once. ``describe()`` records the function's
    import path for provenance, but a callable cannot be rebuilt from it.
    """

    kind = "callable"

    def __init__(self, fn: Callable[[list["Image.Image"], list[str]], Any], *, name: str | None = None, batch_size: int | None = None):
        if not callable(fn):
            raise ObjectiveError(f"Expected a callable (images, prompts) -> scores, but got {fn!r}")
        self.fn = fn
        super().__init__(name=name or getattr(fn, "__name__", None) or type(fn).__name__, batch_size=batch_size)

    def _score_batch(self, images, prompts):
        return self.fn(images, prompts)

    def describe(self):
        fn = self.fn
        qual = f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"
        return {"kind": self.kind, "name": self.name, "callable": qual}


def _format_weight(w: float) -> str:
    return repr(int(w)) if float(w).is_integer() else repr(float(w))


class WeightedObjective(Objective):
    """``sum_i w_i * objective_i(images, prompts)`` over ``[(w_1, obj_1), ...]``.

    Each term batches on its own; :meth:`load` loads every term (shared open_clip models are loaded
    once). Weights may be negative (to minimise a term) but not zero.
    """

    kind = "weighted"

    def __init__(self, terms: Iterable[tuple[float, Objective | Callable[..., Any]]], *, name: str | None = None):
        checked: list[tuple[float, Objective]] = []
        for i, term in enumerate(terms):
            if not isinstance(term, (tuple, list)) or len(term) != 2:
                raise ObjectiveError(f"terms[{i}]: expected a (weight, objective) pair, but got {term!r}")
            w, obj = term
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w == 0:
                raise ObjectiveError(f"terms[{i}]: expected a finite non-zero weight, but got {w!r}")
            if not isinstance(obj, Objective):
                obj = CallableObjective(obj)
            checked.append((float(w), obj))
        if not checked:
            raise ObjectiveError("A weighted objective needs at least one (weight, objective) term")
        self.terms = checked
        auto = ""
        for w, obj in checked:
            sign = "-" if w < 0 else ("+" if auto else "")
            mag = abs(w)
            auto += sign + (obj.name if mag == 1 else f"{_format_weight(mag)}*{obj.name}")
        super().__init__(name=name or auto)

    @property
    def loaded(self) -> bool:
        return all(obj.loaded for _, obj in self.terms)

    def load(self) -> "WeightedObjective":
        for _, obj in self.terms:
            obj.load()
        return self

    def modules(self):
        seen: dict[int, Any] = {}
        for _, obj in self.terms:
            for m in obj.modules():
                seen.setdefault(id(m), m)
        return list(seen.values())

    def __call__(self, images, prompts=None):
        images, prompts = _check_inputs(images, prompts, self.name)
        self.load()
        total = None
        for w, obj in self.terms:
            part = w * obj(images, prompts)
            total = part if total is None else total + part
        return total

    def describe(self):
        return {"kind": self.kind, "terms": [{"weight": w, "objective": obj.describe()} for w, obj in self.terms]}


# ------------------------------------------------------------------------------------------------
# build_objective: names, weighted-sum strings, dicts, callables
# ------------------------------------------------------------------------------------------------


def _registry() -> dict[str, tuple[type[Objective], dict[str, Any]]]:
    reg: dict[str, tuple[type[Objective], dict[str, Any]]] = {
        "pickscore": (PickScoreObjective, {}),
        "clip": (ClipObjective, {}),
        "aesthetic": (AestheticObjective, {}),
    }
    for stat in IMAGE_STATS:
        reg[stat] = (ImageStatObjective, {"stat": stat})
    return reg


def list_objectives() -> list[str]:
    """Names :func:`build_objective` accepts (sorted)."""
    return sorted(_registry())


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name).lower(), [str(c).lower() for c in choices], n=1, cutoff=0.5)
    if not close:
        return ""
    original = {str(c).lower(): str(c) for c in choices}
    return f" (did you mean {original[close[0]]!r}?)"


def _unknown_objective(name: str) -> ObjectiveError:
    names = list_objectives()
    return ObjectiveError(
        f"Unknown objective {name!r}; valid names: {', '.join(names)}" + _did_you_mean(name, names),
        hint="combine names as a weighted sum, e.g. 'pickscore+0.5*aesthetic'",
    )


_TOKEN_RE = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*]))")


def _parse_sum(spec: str) -> list[tuple[float, str]]:
    """Parse ``[+-] [NUM *] NAME [* NUM] ((+|-) ...)*`` into ``[(weight, name)]``. No eval."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    text = spec.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise _syntax(spec, pos + (len(text[pos:]) - len(text[pos:].lstrip())), "unexpected character")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    if not tokens:
        raise ObjectiveError("Expected an objective such as 'pickscore' or 'pickscore+0.5*aesthetic', but got an empty string")
    terms: list[tuple[float, str]] = []
    i = 0
    first = True
    while i < len(tokens):
        sign = 1.0
        if tokens[i][0] == "op" and tokens[i][1] in "+-":
            sign = -1.0 if tokens[i][1] == "-" else 1.0
            i += 1
        elif not first:
            raise _syntax(spec, tokens[i][2], "expected '+' or '-' between terms")
        first = False
        weight = 1.0
        if i < len(tokens) and tokens[i][0] == "num":
            weight = float(tokens[i][1])
            i += 1
            if i >= len(tokens) or tokens[i][:2] != ("op", "*"):
                raise _syntax(spec, tokens[i][2] if i < len(tokens) else len(spec), "expected '*' after a weight")
            i += 1
        if i >= len(tokens) or tokens[i][0] != "name":
            raise _syntax(spec, tokens[i][2] if i < len(tokens) else len(spec), "expected an objective name")
        name = tokens[i][1].lower()
        i += 1
        if i < len(tokens) and tokens[i][:2] == ("op", "*"):
            if i + 1 >= len(tokens) or tokens[i + 1][0] != "num":
                raise _syntax(spec, tokens[i + 1][2] if i + 1 < len(tokens) else len(spec), "expected a number after '*'")
            weight *= float(tokens[i + 1][1])
            i += 2
        terms.append((sign * weight, name))
    return terms


def _syntax(spec: str, pos: int, what: str) -> ObjectiveError:
    return ObjectiveError(
        f"Cannot parse objective {spec!r} at position {pos}: {what}\n  {spec}\n  {' ' * pos}^",
        hint="write names joined by + or -, each with an optional weight: 'pickscore+0.5*aesthetic-0.1*brightness'",
    )


def _params(cls: type) -> set[str]:
    sig = inspect.signature(cls.__init__)
    return {p for p in sig.parameters if p != "self" and sig.parameters[p].kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def _make(name: str, style: str, options: Mapping[str, Any], used: set[str]) -> Objective:
    reg = _registry()
    if name not in reg:
        raise _unknown_objective(name)
    cls, fixed = reg[name]
    accepted = _params(cls) - set(fixed)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key in reg:
            continue
        if key in accepted:
            kwargs[key] = value
            used.add(key)
    own = options.get(name)
    if own is not None:
        if not isinstance(own, Mapping):
            raise ObjectiveError(f"Options for {name!r} must be a dict of settings, but got {own!r}")
        bad = sorted(set(own) - accepted)
        if bad:
            raise ObjectiveError(f"Objective {name!r} has no option(s) {bad}; its options: {', '.join(sorted(accepted))}")
        kwargs.update(own)
    if "style" in accepted and "style" not in kwargs and style:
        kwargs["style"] = style
    try:
        return cls(**fixed, **kwargs)
    except TypeError as e:  # a positional/keyword mismatch the checks above did not catch
        raise ObjectiveError(f"Bad options for objective {name!r}: {e}") from e


def _from_dict(spec: Mapping[str, Any], style: str) -> Objective:
    if "kind" not in spec:
        raise ObjectiveError(f"An objective dict needs a 'kind' (one of {', '.join(list_objectives() + ['weighted'])}), but got keys {sorted(spec)}")
    kind = str(spec["kind"]).lower()
    rest = {k: v for k, v in spec.items() if k != "kind"}
    if kind == "weighted":
        terms = rest.pop("terms", None)
        if rest or not isinstance(terms, list):
            raise ObjectiveError("A weighted objective dict is {'kind': 'weighted', 'terms': [{'weight': w, 'objective': {...}}, ...]}")
        built = []
        for i, term in enumerate(terms):
            if not isinstance(term, Mapping) or set(term) != {"weight", "objective"}:
                raise ObjectiveError(f"terms[{i}]: expected {{'weight': w, 'objective': {{...}}}}, but got {term!r}")
            built.append((term["weight"], _from_dict(term["objective"], style) if isinstance(term["objective"], Mapping) else build_objective(term["objective"], style)))
        return WeightedObjective(built)
    if kind == "callable":
        raise ObjectiveError(f"A callable objective ({spec.get('callable', '?')}) cannot be rebuilt from its description; pass the function itself")
    if kind not in _registry():
        raise _unknown_objective(kind)
    return _make(kind, style, {kind: rest}, set())


def build_objective(spec: "str | Mapping[str, Any] | Objective | Callable[..., Any]", style: str = "", **options: Any) -> Objective:
    """Build an objective from a name, a weighted sum, a dict, an Objective or a callable.

    Args:
        spec: ``"pickscore"``, ``"clip"``, ``"aesthetic"``, ``"brightness"``, ``"saturation"``,
            ``"contrast"``, ``"warmth"``, or a weighted sum of them such as
            ``"pickscore+0.5*aesthetic-0.1*brightness"`` (parsed, never evaluated); a dict as
            returned by :meth:`Objective.describe`; an :class:`Objective` (returned as is); or any
            callable ``(images, prompts) -> scores``.
        style: the style text, passed to every term that takes one (``pickscore``, ``clip``).
        **options: settings. A key that names an objective (``aesthetic={"weights": ...}``) applies
            to that term only; any other key (``device="cuda"``, ``batch_size=4``, ``model=...``)
            applies to every term that accepts it. A key no term accepts is an error.

    Example:
        >>> obj = build_objective("brightness-0.5*saturation")
        >>> obj.name, [w for w, _ in obj.terms]
        ('brightness-0.5*saturation', [1.0, -0.5])
        >>> build_objective("brightnes")
        Traceback (most recent call last):
        ...
        stylehunt.errors.ObjectiveError: Unknown objective 'brightnes'; valid names: aesthetic, brightness, clip, contrast, pickscore, saturation, warmth (did you mean 'brightness'?)
    """
    style = _check_text(style, "style")
    if isinstance(spec, Objective):
        if options:
            raise ObjectiveError(f"Options {sorted(options)} cannot be applied to an already built objective {spec.name!r}")
        return spec
    if isinstance(spec, Mapping):
        if options:
            raise ObjectiveError(f"Options {sorted(options)} cannot be combined with a dict spec; put them in the dict")
        return _from_dict(spec, style)
    if not isinstance(spec, str):
        if callable(spec):
            bad = sorted(set(options) - {"name", "batch_size"})
            if bad:
                raise ObjectiveError(f"Option(s) {bad} do not apply to a callable objective; accepted: batch_size, name")
            return CallableObjective(spec, **options)
        raise ObjectiveError(f"Expected an objective name, weighted sum, dict or callable, but got {spec!r}")

    terms = _parse_sum(spec)
    names = [n for _, n in terms]
    reg = _registry()
    for n in names:
        if n not in reg:
            raise _unknown_objective(n)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ObjectiveError(f"Objective {spec!r} names {dupes} more than once; add the weights into one term")
    for key, value in options.items():
        if key in reg and key not in names:
            raise ObjectiveError(f"Options for {key!r} were given but {spec!r} has no {key!r} term")
    used: set[str] = set()
    built = [(w, _make(n, style, options, used)) for w, n in terms]
    unused = sorted(k for k in options if k not in reg and k not in used)
    if unused:
        accepted = sorted(set().union(*(_params(reg[n][0]) - set(reg[n][1]) for n in names)))
        raise ObjectiveError(f"Option(s) {unused} apply to no term of {spec!r}; accepted: {', '.join(accepted)}")
    if len(built) == 1 and built[0][0] == 1.0:
        return built[0][1]
    return WeightedObjective(built)
