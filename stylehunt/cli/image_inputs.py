"""``generate --image/--mask/--image-strength``: img2img, inpainting and reference images.

`image_pipeline` switches the text-to-image pipeline to the family's sibling through diffusers'
``from_pipe`` (the same components, no second load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["read_image", "check_image_options", "image_size", "image_pipeline"]


def read_image(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    """Callback for ``--image``/``--mask``: the file opened as a PIL image now (RGB, or L for a mask), not after the load."""
    if value is None:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(value) as image:
            picture = image.convert("L" if param.name == "mask" else "RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise click.BadParameter(f"{value}: not an image PIL can read ({e})", ctx=ctx, param=param) from None
    picture.info["path"] = str(value)
    return picture


def check_image_options(image: Any, mask: Any, image_strength: float | None) -> None:
    """The combinations refused before anything loads."""
    if mask is not None and image is None:
        raise click.UsageError("--mask marks what to repaint in --image; give --image too")
    if image_strength is not None and image is None:
        raise click.BadParameter("sets how far --image is noised; give --image too", param_hint="'--image-strength'")
    if mask is not None and mask.size != image.size:
        raise click.BadParameter(f"the mask is {mask.size[0]}x{mask.size[1]} px but --image is "
                                 f"{image.size[0]}x{image.size[1]} px; give a mask of the image's size", param_hint="'--mask'")


def image_size(pipe: Any, image: Any, height: int | None, width: int | None) -> tuple[int | None, int | None]:
    """``--height``/``--width``, by default the input image's size rounded down to the model's size multiple."""
    if image is None:
        return height, width
    from ..engine import size_multiple

    multiple = size_multiple(pipe)
    fit = lambda px: max(multiple, px // multiple * multiple)  # noqa: E731
    return height or fit(image.size[1]), width or fit(image.size[0])


def _takes(pipe: Any, name: str) -> bool:
    import inspect

    return name in inspect.signature(pipe.__call__).parameters


def image_pipeline(pipe: Any, image: Any, mask: Any, image_strength: float | None) -> tuple[Any, dict]:
    """``(pipeline, call arguments)`` for the input images: the sibling pipeline made with ``from_pipe``.

    - ``--image`` on a pipeline whose call takes no ``image``: ``<Name>Img2ImgPipeline`` (SD3, FLUX.1,
      Chroma, Z-Image, Qwen-Image); ``--image-strength`` is diffusers' ``strength``, how far the image
      is noised before denoising (1 = replaced, near 0 = kept).
    - ``--image`` on a pipeline that takes images itself (FLUX.2, FLUX.2 klein): a reference image,
      no switch; ``--image-strength`` does not apply.
    - ``--mask`` (white = repaint): ``<Name>InpaintPipeline`` (SD3, FLUX.1, Chroma, Z-Image,
      Qwen-Image, FLUX.2 klein).

    A sibling is used only if diffusers has it and a stylehunt family adapter lists it (the engine
    guides it); anything else is refused naming the pipeline, before the first step.
    """
    if image is None:
        return pipe, {}
    import diffusers

    from ..engine import SUPPORTED_PIPELINES

    name = type(pipe).__name__
    reference = mask is None and _takes(pipe, "image")
    if reference:
        if image_strength is not None:
            raise click.BadParameter(f"{name} takes --image as a reference image, not a starting point to noise; "
                                     "drop --image-strength", param_hint="'--image-strength'")
        return pipe, {"image": image}
    kind = "Inpaint" if mask is not None else "Img2Img"
    sibling = name.replace("Pipeline", f"{kind}Pipeline") if name.endswith("Pipeline") else ""
    if not (sibling and hasattr(diffusers, sibling) and sibling in SUPPORTED_PIPELINES):
        what = "inpainting (--mask)" if mask is not None else "image-to-image (--image)"
        raise click.BadParameter(
            f"{name} has no {what} pipeline that stylehunt guides"
            + (f" ({sibling} is not in diffusers {diffusers.__version__})" if sibling and not hasattr(diffusers, sibling)
               else f" ({sibling} is not a pipeline stylehunt's family adapters list)" if sibling else ""),
            param_hint="'--mask'" if mask is not None else "'--image'",
        )
    switched = getattr(diffusers, sibling).from_pipe(pipe)
    switched.set_progress_bar_config(disable=True)
    kwargs: dict = {"image": image}
    if mask is not None:
        kwargs["mask_image"] = mask
    if image_strength is not None:
        kwargs["strength"] = image_strength
    return switched, kwargs
