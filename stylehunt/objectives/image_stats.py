"""Weight-free image statistics as objectives: brightness, saturation, contrast, warmth.

They need no download, so they work offline and in tests, and they make cheap, exact targets for
checking the search itself (``"-1*brightness"`` must find heads that darken the image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ObjectiveError
from .base import Objective, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = ["ImageStatObjective", "IMAGE_STATS"]

IMAGE_STATS = ("brightness", "saturation", "contrast", "warmth")


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
                f"Unknown image statistic {stat!r}; expected one of {', '.join(IMAGE_STATS)}" + did_you_mean(stat, IMAGE_STATS)
            )
        self.stat = stat
        self.kind = stat  # type: ignore[misc]  # instance-level: the stat is the objective's kind
        super().__init__(name=stat, batch_size=batch_size)

    def _score_batch(self, images, prompts):
        import torch

        return torch.stack([_image_stat(_pil_to_tensor(im), self.stat) for im in images])

    def describe(self) -> dict[str, Any]:
        return {"kind": self.stat}


def _pil_to_tensor(image: "Image.Image") -> "torch.Tensor":
    """RGB float64 tensor (H, W, 3) in [0, 1]; alpha is dropped, palette/grey images converted."""
    import numpy as np
    import torch

    arr = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    return torch.from_numpy(arr)


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
