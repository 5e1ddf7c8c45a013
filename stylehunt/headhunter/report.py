"""Pictures of a search, laid out from images already made: the objective curve, the per-round image grid,
tiles (the head atlas's layout), contact sheets. Nothing here runs a model (`atlas.render_atlas` does).

All return a ``PIL.Image``; PIL and matplotlib are imported only when called. A video cell
shows a 2 x 2 mosaic of evenly spaced frames (`frame_mosaic`).
"""

from __future__ import annotations

import io
import logging
import math
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import SearchConfigError
from ..objectives import frame_indices
from .settings import DEFAULT_THUMB

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from .results import SearchResult

__all__ = ["render_curve", "render_grid", "tile", "frame_mosaic", "contact_sheet", "CELL_FRAMES",
           "SHEET_FRAMES"]

logger = logging.getLogger(__name__)

_LABEL_H = 14
_PAD = 2

#: The largest atlas (pixels; ~400 MB as RGB): with ``MAX_THUMB``, a typo such as ``--thumb 100000``
#: can no longer ask PIL for a canvas of hundreds of gigabytes.
MAX_ATLAS_PIXELS = 1 << 27
#: Frames a video shows in one cell of the grid or the atlas (a 2 x 2 mosaic).
CELL_FRAMES = 4
#: Frames per video on a contact sheet, evenly spaced from the first to the last.
SHEET_FRAMES = 8


def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


def _fit(text: str, width: int) -> str:
    limit = max(3, width // 6)
    return text if len(text) <= limit else text[: limit - 1] + "~"


def frame_mosaic(frames: Sequence["Image.Image"], count: int = CELL_FRAMES) -> "Image.Image":
    """``count`` evenly spaced frames of a video in one picture, row by row in a near-square grid."""
    from PIL import Image

    picks = [frames[i].convert("RGB") for i in frame_indices(len(frames), count)]
    cols = math.ceil(math.sqrt(len(picks)))
    w, h = picks[0].size
    canvas = Image.new("RGB", (cols * w, math.ceil(len(picks) / cols) * h), (255, 255, 255))
    for i, frame in enumerate(picks):
        canvas.paste(frame, ((i % cols) * w, (i // cols) * h))
    return canvas


def contact_sheet(
    videos: Sequence[Sequence["Image.Image"]], row_labels: Sequence[str] = (), count: int = SHEET_FRAMES
) -> "Image.Image":
    """Videos side by side, frame by frame: one row per video, ``count`` evenly spaced frames at full size.

    Every video must have the same length and frame size (a guided video and its baseline do);
    each column is labelled with its frame number, each row with ``row_labels`` when given.
    """
    from PIL import Image, ImageDraw

    lengths = {len(v) for v in videos}
    sizes = {frame.size for v in videos for frame in v}
    if len(lengths) != 1 or len(sizes) != 1:
        raise ValueError(f"a contact sheet needs videos of one length and frame size, but got lengths {lengths}, sizes {sizes}")
    indices = frame_indices(lengths.pop(), count)
    w, h = sizes.pop()
    left = 60 if row_labels else 0
    canvas = Image.new(
        "RGB", (left + len(indices) * (w + _PAD) + _PAD, _LABEL_H + len(videos) * (h + _PAD) + _PAD), (255, 255, 255)
    )
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for c, index in enumerate(indices):
        draw.text((left + _PAD + c * (w + _PAD), 1), _fit(f"f{index}", w), fill=(0, 0, 0), font=font)
    for r, video in enumerate(videos):
        top = _LABEL_H + _PAD + r * (h + _PAD)
        if row_labels:
            draw.text((2, top + h // 2 - 5), _fit(row_labels[r], left), fill=(0, 0, 0), font=font)
        for c, index in enumerate(indices):
            canvas.paste(video[index].convert("RGB"), (left + _PAD + c * (w + _PAD), top))
    return canvas


def tile(
    cells: Sequence[Sequence["Image.Image | Sequence[Image.Image] | None"]],
    *,
    col_labels: Sequence[str] = (),
    row_labels: Sequence[str] = (),
    thumb: int = DEFAULT_THUMB,
    row_label_width: int = 0,
) -> "Image.Image":
    """Lay out ``cells[row][col]`` as thumbnails with optional labels (``None`` leaves a blank cell).

    A cell holding a video (a list of frames) shows its `frame_mosaic`.
    """
    from PIL import Image, ImageDraw

    rows = len(cells)
    cols = max((len(r) for r in cells), default=0)
    font = _font()
    left = row_label_width if row_labels else 0
    top = _LABEL_H if col_labels else 0
    canvas = Image.new(
        "RGB", (left + cols * (thumb + _PAD) + _PAD, top + rows * (thumb + _PAD) + _PAD), (255, 255, 255)
    )
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(col_labels):
        draw.text((left + _PAD + c * (thumb + _PAD), 1), _fit(label, thumb), fill=(0, 0, 0), font=font)
    for r, label in enumerate(row_labels):
        draw.text((2, top + _PAD + r * (thumb + _PAD) + thumb // 2 - 5), _fit(label, left), fill=(0, 0, 0), font=font)
    for r, row in enumerate(cells):
        for c, image in enumerate(row):
            if image is None:
                continue
            im = (image if isinstance(image, Image.Image) else frame_mosaic(image)).convert("RGB")
            im.thumbnail((thumb, thumb))
            canvas.paste(im, (left + _PAD + c * (thumb + _PAD), top + _PAD + r * (thumb + _PAD)))
    return canvas


def render_grid(images: dict[str, list["Image.Image"]], pairs: Sequence[tuple[str, int]], *, thumb: int = DEFAULT_THUMB) -> "Image.Image":
    """The search's image grid: rows are prompt-seed pairs, columns "no guidance" then each round (videos as mosaics).

    One row per prompt-seed pair; columns "no guidance", "round 1", ...; the last column is the preset.
    """
    labels = list(images)
    cells = [[images[label][i] for label in labels] for i in range(len(pairs))]
    if labels:
        labels[-1] = f"{labels[-1]} = preset" if labels[-1] != "no guidance" else labels[-1]
    row_labels = [f"{p[:14]} s{s}" for p, s in pairs]
    return tile(cells, col_labels=labels, row_labels=row_labels, thumb=thumb, row_label_width=110)


def render_curve(result: "SearchResult", objective_name: str = "objective") -> "Image.Image":
    """Objective vs number of heads: search pairs and held-out pairs, baseline at 0 heads.

    Drawn with matplotlib when it is installed (``stylehunt[search]``), else with PIL alone.

    Objective vs number of selected heads (the paper's Fig. 4/6), on the search pairs and on the
    held-out pairs, with the unguided baseline at 0 heads. Without matplotlib a plainer curve is drawn
    with PIL.
    """
    try:
        import matplotlib
    except ImportError:
        return _plain_curve(result, objective_name)
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from PIL import Image

    x = [0] + [len(r.heads) for r in result.rounds]
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=100)
    try:
        ax.plot(x, [result.baseline] + [r.score for r in result.rounds], "o-", label="search prompts")
        if result.heldout_baseline is not None:
            ax.plot(x, [result.heldout_baseline] + [r.heldout for r in result.rounds], "s--", label="held-out prompts")
        for r in result.rounds:
            ax.annotate(f"r{r.round}", (len(r.heads), r.score), textcoords="offset points", xytext=(3, 4), fontsize=7)
        ax.set_xlabel("number of heads (0 = no guidance)")
        ax.set_ylabel(objective_name)
        ax.set_title(f"{result.settings.strategy} search, w={result.settings.scale:g}, u={result.settings.strength:g}", fontsize=9)
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _plain_curve(result: "SearchResult", objective_name: str) -> "Image.Image":
    """`render_curve` in PIL: the same lines, points, axes ranges and labels, no styling."""
    from PIL import Image, ImageDraw

    x = [0] + [len(r.heads) for r in result.rounds]
    lines = [("search prompts", [result.baseline] + [r.score for r in result.rounds], (31, 119, 180))]
    if result.heldout_baseline is not None:
        lines.append(("held-out prompts", [result.heldout_baseline] + [r.heldout for r in result.rounds],
                      (255, 127, 14)))
    values = [v for _, ys, _ in lines for v in ys if v is not None]
    low, high = min(values), max(values)
    low, high = (low - 1, high + 1) if high == low else (low - 0.05 * (high - low), high + 0.05 * (high - low))
    width, height, left, right, top, bottom = 500, 340, 70, 15, 30, 45
    image = Image.new("RGB", (width, height), "white")
    draw, font = ImageDraw.Draw(image), _font()

    def point(i: int, y: float) -> tuple[float, float]:
        px = left + (x[i] - x[0]) / max(1, x[-1] - x[0]) * (width - left - right)
        return px, top + (high - y) / (high - low) * (height - top - bottom)

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for i, xi in enumerate(x):
        px, _ = point(i, low)
        draw.text((px - 3, height - bottom + 4), str(xi), fill="black", font=font)
    for y in (low, (low + high) / 2, high):
        draw.text((4, point(0, y)[1] - 6), f"{y:.4g}", fill="black", font=font)
    for n, (label, ys, colour) in enumerate(lines):
        points = [point(i, y) for i, y in enumerate(ys) if y is not None]
        draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        draw.text((left + 8, top + 6 + 12 * n), f"-- {label}", fill=colour, font=font)
    s = result.settings
    draw.text((left, 8), f"{s.strategy} search, w={s.scale:g}, u={s.strength:g}: {objective_name}", fill="black", font=font)
    draw.text((left, height - 20), "number of heads (0 = no guidance)", fill="black", font=font)
    return image


def _check_atlas_size(thumb: int, rows: int, cols: int) -> None:
    """Refuse, before any image is made, an atlas over `MAX_ATLAS_PIXELS` (its canvas is one image)."""
    width, height = cols * (thumb + _PAD) + _PAD + 32, rows * (thumb + _PAD) + _PAD + 14
    if width * height > MAX_ATLAS_PIXELS:
        fits = max(1, math.isqrt(MAX_ATLAS_PIXELS // (rows * cols)) - _PAD - 2)
        raise SearchConfigError(
            f"the atlas would be {width} x {height} pixels ({rows} layers x {cols} columns at `thumb` {thumb});"
            f" the limit is {MAX_ATLAS_PIXELS} pixels",
            hint=f"use `thumb` {fits} or less, or fewer `layers`", param="thumb",
        )
