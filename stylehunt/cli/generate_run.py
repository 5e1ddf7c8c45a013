"""``generate``'s sampling: seeds x (scale rows x strength columns), each cell guided, then every file written.

One setting and one seed writes ``--out`` (as it always did). Several seeds (``--seeds 0-3``,
``--num-images 4``) write ``NAME-<seed>.png`` each. A sweep (``--strength 0.2,0.5,0.8`` and/or
``--scale 1,3,5``) writes one labelled grid per seed: columns are strengths u, rows scales w.
``--baseline`` adds the unguided image of each seed as ``NAME[-<seed>].baseline.png``. Every name
is known before the model loads; nothing is written unless every sample came out finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import GuidanceError, NonFiniteGuidanceError, StorageError
from ..files import VIDEO_SUFFIX, atomic_write_image

__all__ = ["Plan", "plan_outputs", "cell_strengths", "sample", "run_plan"]


@dataclass(frozen=True)
class Plan:
    """What one ``generate`` makes: ``(seed, guided path, baseline path or None)`` per seed, and the sweep axes."""

    outputs: list[tuple[int, Path, Path | None]]
    strengths: list[float] | None  # grid columns (u), None: no strength sweep
    scales: list[float] | None  # grid rows (w), None: no scale sweep

    @property
    def grid(self) -> bool:
        return self.strengths is not None or self.scales is not None


def plan_outputs(out: Path, seeds: Sequence[int], *, strengths: list[float] | None, scales: list[float] | None,
                 baseline: bool) -> Plan:
    """Every file name, before anything loads; refuses a name that is a folder."""
    several = len(seeds) > 1
    outputs = []
    for seed in seeds:
        path = out.with_name(f"{out.stem}-{seed}{out.suffix}") if several else out
        base = path.with_name(f"{path.stem}.baseline{path.suffix}") if baseline else None
        # a video's contact sheet, NAME.frames.png, is written after the mp4: a folder there is refused now
        sheet = path.with_name(f"{path.stem}.frames.png") if path.suffix.lower() == VIDEO_SUFFIX else None
        for p in (path, base, sheet):
            if p is not None and p.is_dir():
                raise StorageError(f"--out {out}: {p} would be written, but it is a folder", path=str(p),
                                   hint="choose another --out name")
        outputs.append((seed, path, base))
    return Plan(outputs=outputs, strengths=strengths, scales=scales)


def cell_strengths(own: Sequence[float | None], given: Sequence[float], swept: float | None) -> list[float | None]:
    """One u per preset: its ``REF:u``, else the swept u, else ``--strength`` (once for all or once each), else its own default (None)."""
    out: list[float | None] = []
    for i, u in enumerate(own):
        if u is None:
            u = swept if swept is not None else (given[0] if len(given) == 1 else given[i] if given else None)
        out.append(u)
    return out


def sample(pipe: Any, prompt: str, seed: int, kwargs: dict, *, video: bool, what: str, flags: dict) -> Any:
    """One pipeline call: the image (PIL), or a video's PIL frames; non-finite pixels are an error naming the flags."""
    import numpy as np
    import torch

    output = pipe(prompt=prompt, generator=torch.Generator().manual_seed(seed), **kwargs)  # FLUX.2 takes `image` first
    pixels = output.frames if video else output.images
    if not np.isfinite(pixels).all():  # the pipeline's own CFG overflowed, or the model in its --dtype
        given = [f"{flag} {value:g}" for flag, value in (("--guidance-scale", flags["guidance_scale"]),
                                                         ("--true-cfg-scale", flags["true_cfg_scale"])) if value is not None]
        dtype = flags["dtype"]
        raise GuidanceError(
            f"the {what} {'video' if video else 'image'} (seed {seed}) came out non-finite (NaN/inf) with "
            f"{', '.join(given + [f'--dtype {dtype}'])}; nothing was written",
            hint="lower --guidance-scale / --true-cfg-scale"
            + ("" if dtype == "float32" else ", or use --dtype float32 (half precision overflows sooner)"),
        )
    if not video:
        return pipe.numpy_to_pil(pixels)[0]
    frames = Frames(pipe.numpy_to_pil(pixels[0]))
    audio = getattr(output, "audio", None)  # a video model that makes sound too (LTX-2): its first track
    if audio is not None:
        frames.audio = (np.asarray(torch.as_tensor(audio[0]).float().cpu()), audio_rate(pipe))
    return frames


class Frames(list):
    """A video's PIL frames; ``audio`` is ``(samples, rate)`` when the model made a sound track with it."""

    audio: tuple[Any, int] | None = None


def audio_rate(pipe: Any) -> int:
    """The sample rate of a pipeline's audio: its vocoder's output rate, else its audio VAE's."""
    for name, key in (("vocoder", "output_sampling_rate"), ("audio_vae", "sample_rate")):
        rate = getattr(getattr(getattr(pipe, name, None), "config", None), key, None)
        if rate:
            return int(rate)
    raise GuidanceError(f"{type(pipe).__name__} made audio but names no sample rate (vocoder or audio VAE config)")


def run_plan(pipe: Any, chosen: list, plan: Plan, *, draw: Callable[[int, str], Any], own: Sequence[float | None],
             given: Sequence[float], scale: float | None, apply_kwargs: dict,
             record: Callable[..., dict] | None) -> list[tuple[Path, Any, dict | None]]:
    """``(path, picture, record)`` for every file of ``plan``, all sampled before any is written.

    ``draw(seed, what)`` samples with whatever is applied; ``record(seed, picture, strengths, scale,
    guided, grid)`` is the generation record of a PNG (None for videos).
    """
    from ..api import apply, remove

    rows = plan.scales or [scale]
    cols = plan.strengths or [None]
    files = []
    for seed, path, base in plan.outputs:
        cells = []
        for w in rows:
            row = []
            for u in cols:
                strengths = cell_strengths(own, given, u)
                used = [s if s is not None else p.strength for s, p in zip(strengths, chosen)]
                apply(pipe, chosen, scale=w, strengths=used, **apply_kwargs)
                try:
                    row.append(draw(seed, "guided"))
                except NonFiniteGuidanceError as e:
                    said = f"--scale {e.scale:g}" if w is not None else f"the presets' scale {e.scale:g}"
                    raise NonFiniteGuidanceError(
                        f"{said} made the prediction non-finite (inf/NaN) at step {e.step} of {e.steps} (seed {seed}); "
                        "nothing was written",
                        scale=e.scale, step=e.step, steps=e.steps, hint="lower --scale (typical scales are 1 to 10)",
                    ) from None
                finally:
                    remove(pipe)
            cells.append(row)
        used = [s if s is not None else p.strength for s, p in zip(cell_strengths(own, given, None), chosen)]
        if plan.grid:
            picture = grid_image(cells, plan)
            axes = {k: v for k, v in (("strength", plan.strengths), ("scale", plan.scales)) if v is not None}
            swept = used if plan.strengths is None else [None] * len(chosen)  # None: u is the grid's column
            meta = record(seed, cells[0][0], swept, scale, True, axes) if record else None
        else:
            picture = cells[0][0]
            meta = record(seed, picture, used, scale, True, None) if record else None
        files.append((path, picture, meta))
        if base is not None:
            plain = draw(seed, "baseline")
            files.append((base, plain, record(seed, plain, used, scale, False, None) if record else None))
    return files


def grid_image(cells: list[list[Any]], plan: Plan) -> Any:
    """The cells at full size, columns labelled ``u=...`` and rows ``w=...`` (an axis not swept has no label)."""
    from ..headhunter.report import tile

    size = max(cells[0][0].size)
    cols = [f"u={u:g}" for u in plan.strengths] if plan.strengths else []
    rows = [f"w={w:g}" for w in plan.scales] if plan.scales else []
    return tile(cells, col_labels=cols, row_labels=rows, thumb=size, row_label_width=48)


def write_images(files: list[tuple[Path, Any, dict | None]], text: Callable[[dict], dict[str, str]]) -> list[Path]:
    """Each image encoded in memory with its text chunks, then renamed into place (never through a link)."""
    for path, picture, meta in files:
        atomic_write_image(picture, path, text=text(meta) if meta else None)
    return [path for path, _, _ in files]

