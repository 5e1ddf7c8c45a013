"""What the studio's pages do, without any UI library: the loaded pipeline, mixing presets, the atlas, saving.

Built on the public API only (``stylehunt.applied``, ``Preset``, ``load_preset``, ``head_grid``,
``models.load_pipeline``); every path the page sends goes through `folders.Folders`. Long
actions are generators that yield after every image, which is where a cancel from the page lands
(never inside ``applied``: a cancelled action leaves the pipeline bare).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import GuidanceError, StylehuntError
from .folders import Folders

__all__ = ["Studio", "SWEEP"]

#: The strength sweep of the mix page: every preset's u times these factors, one image each.
SWEEP = (0.25, 0.5, 0.75, 1.0)


class Studio:
    """One studio session: the chosen folders, device/dtype defaults and the one loaded pipeline."""

    def __init__(self, folders: Folders, *, device: str | None = None, dtype: str | None = None):
        self.folders = folders
        self.device = device
        self.dtype = dtype
        self.pipe: Any = None
        self.model: str | None = None
        self.loaded: str | None = None  # what load() said
        # One pipeline serves every page: an atlas and a mix must not apply guidance to it at once
        self.lock = threading.Lock()

    # ---- the pipeline ------------------------------------------------------------------------
    def model_source(self, text: str) -> str:
        """A tiny model name or a Hub id as given; anything that names a local folder must lie in the folders."""
        from ..registry.names import is_hub_repo_id
        from ..tiny import TINY_MODEL_NAMES

        name = (text or "").strip()
        if not name:
            raise StylehuntError("give a model: a Hub id, a folder in the output folder, or tiny-sd3",
                                 hint=f"tiny models: {', '.join(TINY_MODEL_NAMES)}")
        if name in TINY_MODEL_NAMES:
            return name
        if is_hub_repo_id(name) and not Path(name).exists():
            return name
        return str(self.folders.inside(name, what="model folder", exists=True))

    def load(self, model: str, device: str | None = None, dtype: str | None = None,
             cancelled: Callable[[], bool] | None = None) -> str:
        """Load ``model`` (replacing the loaded one only once the new one loaded); a line saying what is loaded.

        ``cancelled``: asked once the load returns; when it says so, the new pipeline is dropped and the
        loaded one stays (a load is one library call, which cannot be stopped half way).
        """
        from ..models import choose_device, load_pipeline

        source = self.model_source(model)
        device, dtype = choose_device(device or self.device, dtype or self.dtype)
        pipe = load_pipeline(source, dtype=dtype, device=device)
        if cancelled is not None and cancelled():
            return f"loading {model.strip()} was cancelled; " + (self.loaded or "no model is loaded")
        pipe.set_progress_bar_config(disable=True)
        with self.lock:
            self.pipe, self.model = pipe, model.strip()
            self.loaded = f"loaded {type(pipe).__name__} ({self.model}) on {device} in {dtype}"
        return self.loaded

    def need_pipe(self) -> Any:
        if self.pipe is None:
            raise StylehuntError("no model is loaded", hint="load one on the Model tab first (tiny-sd3 works offline)")
        return self.pipe

    def video(self) -> bool:
        from ..headhunter.settings import makes_video

        return makes_video(self.need_pipe())

    def size(self, size: int | None) -> tuple[int, int]:
        from ..headhunter.settings import default_size

        if size:
            return int(size), int(size)
        return default_size(self.need_pipe())

    # ---- presets -----------------------------------------------------------------------------
    def preset(self, ref: str) -> Any:
        """Load a reference from the page: a registry name, ``hf-hub:owner/repo``, or a file in the folders."""
        from ..registry import load_preset
        from ..registry.references import parse_reference

        text = (ref or "").strip()
        parsed = parse_reference(text)
        if parsed.kind != "path" and not Path(text).exists():
            return load_preset(text)
        return load_preset(self.folders.existing(text, what="preset file"))

    def chosen(self, slots: Sequence[tuple[str, float]]) -> tuple[list[Any], list[float]]:
        refs = [(r.strip(), float(u)) for r, u in slots if r and r.strip()]
        if not refs:
            raise StylehuntError("choose at least one preset", hint="pick a registry preset, an hf-hub: reference, or a file")
        return [self.preset(r) for r, _ in refs], [u for _, u in refs]

    def hub_presets(self, pattern: str = "*") -> list[str]:
        """``hf-hub:`` references of the Hub's preset repos (``stylehunt list --hub``)."""
        from ..registry.discovery import search_hub

        return [hit.reference for hit in search_hub(pattern.strip() or "*")]

    # ---- sampling ----------------------------------------------------------------------------
    def draw(self, prompt: str, seed: int, steps: int, size: int | None, guidance: dict | None) -> Any:
        """One image (or a video's frames) with ``guidance`` (``apply``'s arguments) or none."""
        import numpy as np
        import torch

        from ..api import applied

        pipe = self.need_pipe()
        h, w = self.size(size)
        video = self.video()
        kwargs = dict(prompt=prompt, num_inference_steps=int(steps), height=h, width=w, output_type="np",
                      generator=torch.Generator().manual_seed(int(seed)))
        with self.lock:
            if guidance is None:
                out = pipe(**kwargs)
            else:
                with applied(pipe, **guidance):
                    out = pipe(**kwargs)
        pixels = out.frames if video else out.images
        if not np.isfinite(pixels).all():
            raise GuidanceError(f"the image (seed {seed}) came out non-finite (NaN/inf)", hint="lower the scale")
        return pipe.numpy_to_pil(pixels[0]) if video else pipe.numpy_to_pil(pixels)[0]

    def mix(self, prompt: str, slots: Sequence[tuple[str, float]], *, scale: float, start: float, stop: float,
            identity: str, seed: int, steps: int, size: int | None, sweep: bool = True) -> Iterator[tuple[str, Any]]:
        """Yield ``("baseline", img)``, ``("styled", img)``, then ``("sweep x0.25", img)``...: same seed throughout."""
        if not (prompt or "").strip():
            raise StylehuntError("the prompt is empty", hint="type what the image should show")
        if start >= stop:
            raise GuidanceError(f"the guidance interval starts at {start:g}, after it stops at {stop:g}",
                                hint="move the start below the stop")
        presets, strengths = self.chosen(slots)
        self.need_pipe()

        def guidance(factor: float) -> dict:
            return dict(presets=presets, strengths=[u * factor for u in strengths], scale=scale, identity=identity,
                        start=start, stop=stop)

        yield "baseline", self.draw(prompt, seed, steps, size, None)
        yield "styled", self.draw(prompt, seed, steps, size, guidance(1.0))
        if sweep:
            for factor in SWEEP[:-1]:
                yield f"u x{factor:g}", self.draw(prompt, seed, steps, size, guidance(factor))

    def heads(self) -> list[tuple[int, int]]:
        from ..engine import head_grid

        grid = head_grid(self.need_pipe())
        return [(l, h) for l, layer in enumerate(grid.layers) for h in range(layer.heads)]

    def atlas(self, prompt: str, *, seed: int, scale: float, strength: float, steps: int, size: int | None,
              layers: str | None = None) -> Iterator[tuple[tuple[int, int] | None, Any]]:
        """Yield ``(None, unguided)`` then ``((layer, head), image)`` for each head: one head guided at a time."""
        from ..headhunter.settings import parse_layers
        from ..registry import Preset

        if not (prompt or "").strip():
            raise StylehuntError("the prompt is empty", hint="type what the atlas images should show")
        wanted = parse_layers(layers.strip()) if layers and layers.strip() else None
        heads = [a for a in self.heads() if wanted is None or a[0] in wanted]
        if not heads:
            raise StylehuntError(f"no heads in layers {layers!r}", hint="leave the layers empty for all of them")
        yield None, self.draw(prompt, seed, steps, size, None)
        for head in heads:
            preset = Preset(heads=[head], strength=strength)
            yield head, self.draw(prompt, seed, steps, size, dict(presets=[preset], scale=scale))

    # ---- files -------------------------------------------------------------------------------
    def save_preset(self, heads: Sequence[tuple[int, int]], name: str, *, strength: float, scale: float) -> Path:
        """The ad-hoc preset as ``<name>.json`` in the output folder, with the loaded model's fingerprint."""
        from ..engine import head_grid
        from ..registry import Preset
        from ..registry.names import is_hub_repo_id
        from ..tiny import TINY_MODEL_NAMES

        pipe = self.need_pipe()
        if not heads:
            raise StylehuntError("the ad-hoc preset has no heads", hint="click atlas cells and add them first")
        if self.model not in TINY_MODEL_NAMES and not is_hub_repo_id(self.model or ""):
            raise StylehuntError(f"a preset file names its model by Hub id, and {self.model} is a folder",
                                 hint="load the model by its Hub id to save presets for it")
        stem = (name or "").strip()
        path = self.folders.inside(stem if stem.endswith(".json") else f"{stem}.json", what="preset file name")
        if path.exists():
            raise StylehuntError(f"{path.name} already exists in the output folder", hint="choose another name")
        from ..registry.names import validate_name

        text = ",".join(f"{l}:{h}" for l, h in heads)
        preset = Preset(
            heads=list(heads), strength=strength, scale=scale, name=validate_name(path.stem.lower(), "name"),
            version="0.1.0", license="apache-2.0", model=self.model,
            fingerprint=head_grid(pipe).fingerprint(), description=f"heads {text}, picked in stylehunt studio",
            provenance={"kind": "manual", "source": f"stylehunt studio atlas: {text}"},
        )
        return preset.save(path)

    def write_image(self, image: Any, name: str) -> Path:
        from ..files import atomic_write_image

        return atomic_write_image(image, self.folders.inside(name, what="image name"))

    def write_video(self, frames: Any, name: str, fps: int = 16) -> Path:
        from ..files import atomic_write_video

        return atomic_write_video(frames, self.folders.inside(name, what="video name"), fps=fps)

    # ---- publishing --------------------------------------------------------------------------
    def publish(self, file: str, repo_id: str, *, version: str | None, name: str | None, previews: Sequence[Path],
                prompt: str, token: str | None, dry_run: bool) -> Any:
        """``push_preset`` of a preset file in the folders, with the preview pair as the card's gallery."""
        from ..registry import load_preset
        from ..registry.publish import push_preset

        preset = load_preset(self.folders.existing(file, what="preset file"))
        label = (name or preset.name or "preset").strip()
        gallery = [(f"{prompt} ({'baseline, no guidance' if '.baseline' in p.name else f'stylehunt {label}'})",
                    f"previews/{p.name}") for p in previews]
        return push_preset(preset, repo_id.strip(), version=(version or "").strip() or None,
                           name=(name or "").strip() or None, images=list(previews), gallery=gallery,
                           token=(token or "").strip() or None, dry_run=dry_run)

    def previews(self, file: str, prompt: str, *, seed: int, steps: int, size: int | None) -> Iterator[Path]:
        """The styled image, then its baseline, for the card, each yielded once written to ``previews/`` in the
        output folder (a Cancel lands between the two)."""
        preset = self.preset(file)
        folder = self.folders.inside("previews", what="previews folder")
        folder.mkdir(exist_ok=True)
        yield self.write_image(self.draw(prompt, seed, steps, size, dict(presets=[preset])), "previews/pair-1.png")
        yield self.write_image(self.draw(prompt, seed, steps, size, None), "previews/pair-1.baseline.png")
