"""The `Objective` base class and what every objective shares: input checks, batching, device/dtype.

An objective maps ``(samples, prompts)`` to a float32 CPU tensor of shape ``(N,)``, higher is better; a
sample is a PIL image or a video (a sequence of PIL frames). `CallableObjective` puts any function behind
the same contract. torch and PIL are imported inside the functions that need them.
"""

from __future__ import annotations

import difflib
import threading
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Sequence

from ..errors import ObjectiveError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = [
    "Objective",
    "CallableObjective",
    "check_batch_size",
    "check_text",
    "check_inputs",
    "VIDEO_FRAMES",
    "frame_indices",
    "resolve_device",
    "resolve_dtype",
    "did_you_mean",
]


#: A video sample is scored on this many of its frames, evenly spaced from the first to the last
#: (all of them when it has fewer): the mean of their scores. Scorers are image models; eight frames
#: follow a clip's changes at an eighth of the cost of scoring every frame of an 81-frame Wan video.
VIDEO_FRAMES = 8


def frame_indices(num_frames: int, count: int) -> list[int]:
    """``count`` frame indices evenly spaced over ``num_frames``, first and last included (all when fewer).

    >>> frame_indices(81, 8)
    [0, 11, 23, 34, 46, 57, 69, 80]
    >>> frame_indices(5, 8), frame_indices(9, 1)
    ([0, 1, 2, 3, 4], [0])
    """
    if num_frames <= count:
        return list(range(num_frames))
    if count == 1:
        return [0]
    return [(i * (num_frames - 1) + (count - 1) // 2) // (count - 1) for i in range(count)]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` (case-insensitive), or ``""``."""
    choices = list(choices)
    close = difflib.get_close_matches(str(name).lower(), [str(c).lower() for c in choices], n=1, cutoff=0.5)
    if not close:
        return ""
    original = {str(c).lower(): str(c) for c in choices}
    return f" (did you mean {original[close[0]]!r}?)"


def check_batch_size(batch_size: Any, *, allow_none: bool) -> int | None:
    """``batch_size`` if it is an integer >= 1 (or ``None`` when allowed), else `ObjectiveError`."""
    if batch_size is None and allow_none:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ObjectiveError(f"Expected `batch_size` to be an integer >= 1, but got {batch_size!r}")
    return batch_size


def check_text(value: Any, what: str, *, allow_empty: bool = True) -> str:
    """``value`` stripped, if it is a string (non-empty unless ``allow_empty``)."""
    if not isinstance(value, str):
        raise ObjectiveError(f"Expected `{what}` to be a string, but got {value!r}")
    value = value.strip()
    if not value and not allow_empty:
        raise ObjectiveError(f"Expected `{what}` to be a non-empty string, but got {value!r}")
    return value


def resolve_device(device: Any) -> "torch.device":
    """``device`` as a torch device; ``None`` is CUDA when available, else CPU."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ObjectiveError(f"Expected `device` to be a torch device such as 'cpu' or 'cuda', but got {device!r}") from e


_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def resolve_dtype(dtype: Any) -> "torch.dtype":
    """``dtype`` (a torch dtype or a name such as ``"fp16"``) as a torch float dtype; ``None`` is float32."""
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


class Objective:
    """Base class: ``objective(samples, prompts) -> torch.Tensor`` of shape ``(N,)``, higher is better.

    Subclasses implement `_load` (optional) and `_score_batch` on images; the base class
    checks the inputs, loads once (thread-safe), splits into batches of ``batch_size`` under
    ``torch.no_grad()`` and checks the scores (float32, on CPU, finite, one per sample). A video
    sample (a sequence of frames) is scored on `frame_indices` ``(len(video), VIDEO_FRAMES)``
    of its frames, each with the video's prompt, and gets the mean of their scores.

    Attributes:
        name: short label used in logs and provenance (``"pickscore"``, ``"pickscore+0.5*aesthetic"``).
        batch_size: images (frames) per forward pass; ``None`` scores the whole list at once.
    """

    kind: ClassVar[str] = "objective"

    def __init__(self, *, name: str | None = None, batch_size: int | None = None):
        self.name = name or self.kind
        self.batch_size = check_batch_size(batch_size, allow_none=True)
        self._loaded = False
        self._load_lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether `load` has completed (weights are in memory)."""
        return self._loaded

    def load(self) -> "Objective":
        """Load the weights now (idempotent: the first call loads, later calls return at once).

        Raises `stylehunt.errors.ScorerUnavailableError` if the weights cannot be had
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
        """The loaded torch modules (empty before `load`, and for weight-free objectives)."""
        return []

    # -- scoring ---------------------------------------------------------------------------------
    def __call__(self, samples: Sequence[Any], prompts: Sequence[str] | None = None) -> "torch.Tensor":
        import torch

        samples, prompts = check_inputs(samples, prompts, self.name)
        self.load()
        if not samples:
            return torch.zeros(0, dtype=torch.float32)
        images, image_prompts, counts = _frames_to_score(samples, prompts)
        step = self.batch_size or len(images)
        parts = []
        with torch.no_grad():
            for start in range(0, len(images), step):
                chunk = images[start : start + step]
                raw = self._score_batch(chunk, image_prompts[start : start + step])
                parts.append(_as_scores(raw, len(chunk), self.name))
        scores = _check_finite(torch.cat(parts), self.name)
        if len(images) == len(samples):  # images only: one score each
            return scores
        return torch.stack([part.mean() for part in torch.split(scores, counts)])

    def _score_batch(self, images: list["Image.Image"], prompts: list[str]) -> "torch.Tensor":
        raise NotImplementedError

    # -- provenance ------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-able settings for provenance; ``build_objective(obj.describe())`` rebuilds it."""
        return {"kind": self.kind}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "kind")
        return f"{type(self).__name__}({settings})"


def check_inputs(images: Any, prompts: Any, name: str) -> tuple[list[Any], list[str]]:
    """``(samples, prompts)`` as lists, one prompt string per sample (``None`` prompts: all ``""``).

    A sample is a PIL image or a video: a non-empty list or tuple of PIL images (its frames).
    """
    from PIL import Image

    if isinstance(images, (Image.Image, str, bytes)) or not isinstance(images, Sequence):
        raise ObjectiveError(
            f"Objective {name!r} expects a list of PIL images (or of videos, lists of PIL frames), "
            f"but got {type(images).__name__}"
        )
    images = list(images)
    for i, im in enumerate(images):
        if isinstance(im, Image.Image):
            continue
        if not isinstance(im, (list, tuple)):
            raise ObjectiveError(
                f"Objective {name!r}: images[{i}] is a {type(im).__name__}, expected a PIL.Image.Image "
                "or a video (a list of PIL frames)"
            )
        if not im:
            raise ObjectiveError(f"Objective {name!r}: images[{i}] is a video with no frames")
        bad = next((j for j, frame in enumerate(im) if not isinstance(frame, Image.Image)), None)
        if bad is not None:
            raise ObjectiveError(
                f"Objective {name!r}: frame {bad} of the video images[{i}] is a {type(im[bad]).__name__}, "
                "expected a PIL.Image.Image"
            )
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


def _frames_to_score(samples: list[Any], prompts: list[str]) -> tuple[list[Any], list[str], list[int]]:
    """The images to score for checked ``samples``: an image itself, a video's sampled frames.

    Returns the images, their prompts (a frame gets its video's prompt) and how many images each
    sample contributed, in order.
    """
    from PIL import Image

    images: list[Any] = []
    image_prompts: list[str] = []
    counts: list[int] = []
    for sample, prompt in zip(samples, prompts):
        frames = [sample] if isinstance(sample, Image.Image) else [sample[j] for j in frame_indices(len(sample), VIDEO_FRAMES)]
        images += frames
        image_prompts += [prompt] * len(frames)
        counts.append(len(frames))
    return images, image_prompts, counts


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


class CallableObjective(Objective):
    """Wrap any ``fn(images, prompts) -> scores`` (a tensor, array or list of N numbers).

    ``fn`` sees images only: a video is handed over as its sampled frames, as to every objective.
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
