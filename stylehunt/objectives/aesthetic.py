"""The LAION improved-aesthetic-predictor as an objective: a small MLP on open_clip image embeddings.

The MLP's weights file is resolved and read here (its layout is fixed by the public
``sac+logos+ava1-l14-linearMSE.pth``); the CLIP tower comes from `loading.load_open_clip`
and is shared with a ``clip`` objective on the same model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ObjectiveError
from .base import Objective, check_batch_size, resolve_dtype
from .loading import DEFAULT_CLIP_MODEL, OpenClipBundle, load_open_clip, resolve_weights_file

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["AestheticObjective", "DEFAULT_AESTHETIC_WEIGHTS"]

#: The public LAION "improved aesthetic predictor" weights (MLP on CLIP ViT-L/14 embeddings).
DEFAULT_AESTHETIC_WEIGHTS = "hf-hub:camenduru/improved-aesthetic-predictor/sac+logos+ava1-l14-linearMSE.pth"

_AESTHETIC_HIDDEN = (1024, 128, 64, 16)  # fixed by the public sac+logos+ava1-l14-linearMSE.pth


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
            `DEFAULT_AESTHETIC_WEIGHTS`. (``hf-hub:trl-lib/ddpo-aesthetic-predictor/aesthetic-model.pth``
            holds the same architecture.)
        clip_model, clip_pretrained: the open_clip image tower, as ``model``/``pretrained`` of
            `stylehunt.objectives.ClipObjective` (default ViT-L-14 / openai; shared with a
            ``clip`` objective that uses the same one).
        batch_size, device, dtype, cache_dir: as for `stylehunt.objectives.PickScoreObjective`.
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
        super().__init__(batch_size=check_batch_size(batch_size, allow_none=False))
        self.weights = weights
        self.clip_model = clip_model
        self.clip_pretrained = clip_pretrained
        self.device, self.dtype, self.cache_dir = device, dtype, cache_dir
        resolve_dtype(dtype)
        self._bundle: OpenClipBundle | None = None
        self._mlp = None

    def _load(self) -> None:
        path = resolve_weights_file(self.weights, self.cache_dir)  # small: fail on it before the big CLIP
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
        bundle = load_open_clip(self.clip_model, self.clip_pretrained, device=self.device, dtype=self.dtype, cache_dir=self.cache_dir)
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
