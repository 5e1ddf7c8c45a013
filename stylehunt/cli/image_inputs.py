"""``generate --image/--mask/--image-strength/--edit``: img2img, inpainting, edits and reference images.

`image_pipeline` switches the text-to-image pipeline to the family's sibling through diffusers'
``from_pipe`` (the same components, no second load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["read_image", "check_image_options", "check_edit_from_config", "image_size", "image_pipeline"]


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


def check_image_options(image: Any, mask: Any, image_strength: float | None, edit: bool = False) -> None:
    """The combinations refused before anything loads."""
    if edit and image is None:
        raise click.UsageError("--edit edits --image as the prompt says; give --image too")
    if edit and (mask is not None or image_strength is not None):
        flag = "--mask" if mask is not None else "--image-strength"
        raise click.BadParameter(f"an edit pipeline takes neither a mask nor an image strength; drop {flag} (or --edit "
                                 "for inpainting / img2img)", param_hint=f"'{flag}'")
    if mask is not None and image is None:
        raise click.UsageError("--mask marks what to repaint in --image; give --image too")
    if image_strength is not None and image is None:
        raise click.BadParameter("sets how far --image is noised; give --image too", param_hint="'--image-strength'")
    if mask is not None and mask.size != image.size:
        raise click.BadParameter(f"the mask is {mask.size[0]}x{mask.size[1]} px but --image is "
                                 f"{image.size[0]}x{image.size[1]} px; give a mask of the image's size", param_hint="'--mask'")


def check_edit_from_config(model: str) -> None:
    """``--edit`` before any weight is read: the model's pipeline class (``model_index.json``) must have an
    edit sibling, or be an edit pipeline; a local folder needs its ``processor/``. Unreadable: checked after loading."""
    import os

    import diffusers

    from ..engine import SUPPORTED_PIPELINES
    from ..tiny import resolve_tiny_model

    path = str(resolve_tiny_model(model) or model)
    if not os.path.isdir(path):
        return  # a Hub id: its files are read when it loads
    try:
        name = str(diffusers.DiffusionPipeline.load_config(path, local_files_only=True).get("_class_name"))
    except (OSError, ValueError, RecursionError):
        return
    if "Edit" in name:
        return  # an edit model: its own pipeline takes --image
    sibling = name.replace("Pipeline", "EditPipeline")
    if not (hasattr(diffusers, sibling) and sibling in SUPPORTED_PIPELINES):
        raise click.BadParameter(f"{name} has no edit pipeline that stylehunt guides (Qwen-Image has); drop --edit "
                                 "for image-to-image", param_hint="'--edit'")
    if model != "tiny-qwenimage" and not os.path.isdir(os.path.join(path, "processor")):
        raise click.BadParameter(_NO_PROCESSOR.format(model=model), param_hint="'--edit'")


_NO_PROCESSOR = ("{model} has no Qwen2-VL processor (no readable processor/ folder) for an edit pipeline; load a "
                 "Qwen-Image-Edit model instead (it loads as its edit pipeline and takes --image as is)")


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


def image_pipeline(pipe: Any, image: Any, mask: Any, image_strength: float | None, *, edit: bool = False,
                   model: str | None = None) -> tuple[Any, dict]:
    """``(pipeline, call arguments)`` for the input images: the sibling pipeline made with ``from_pipe``.

    - ``--image`` on a pipeline whose call takes no ``image``: ``<Name>Img2ImgPipeline`` (SD3, FLUX.1,
      Chroma, Z-Image, Qwen-Image); ``--image-strength`` is diffusers' ``strength``, how far the image
      is noised before denoising (1 = replaced, near 0 = kept).
    - ``--image`` on a pipeline that takes images itself (FLUX.2, FLUX.2 klein): a reference image,
      no switch; ``--image-strength`` does not apply.
    - ``--mask`` (white = repaint): ``<Name>InpaintPipeline`` (SD3, FLUX.1, Chroma, Z-Image,
      Qwen-Image, FLUX.2 klein).
    - ``--image --edit``: ``<Name>EditPipeline`` (Qwen-Image), which edits the image as the prompt
      says; it needs the Qwen2-VL ``processor`` a Qwen-Image-Edit model ships (read from the model's
      ``processor/`` folder; the tiny Qwen-Image's is built in code). An edit model itself loads as
      its edit pipeline, which takes ``--image`` as is.

    A sibling is used only if diffusers has it and a stylehunt family adapter lists it (the engine
    guides it); anything else is refused naming the pipeline, before the first step.
    """
    if image is None:
        return pipe, {}
    import diffusers

    from ..engine import SUPPORTED_PIPELINES

    name = type(pipe).__name__
    if edit and not _takes(pipe, "image"):
        return _edit_pipeline(pipe, model or "", image), {"image": image}
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


def _edit_pipeline(pipe: Any, model: str, image: Any) -> Any:
    """The family's edit pipeline (``QwenImageEditPipeline``) over the loaded components, with its processor."""
    import diffusers

    from ..engine import SUPPORTED_PIPELINES

    name = type(pipe).__name__
    sibling = name.replace("Pipeline", "EditPipeline") if name.endswith("Pipeline") else ""
    if not (sibling and hasattr(diffusers, sibling) and sibling in SUPPORTED_PIPELINES):
        raise click.BadParameter(f"{name} has no edit pipeline that stylehunt guides (Qwen-Image has); drop --edit "
                                 "for image-to-image", param_hint="'--edit'")
    switched = getattr(diffusers, sibling).from_pipe(pipe, processor=_edit_processor(pipe, model))
    switched.set_progress_bar_config(disable=True)
    return switched


def _edit_processor(pipe: Any, model: str) -> Any:
    """The Qwen2-VL processor an edit pipeline reads the image with: the tiny model's built in code, else the
    model's ``processor/`` folder (Qwen-Image-Edit models ship one; the text-to-image Qwen-Image does not)."""
    from ..tiny import resolve_tiny_model

    if model == "tiny-qwenimage":
        from ..tiny.qwenimage import edit_processor

        return edit_processor(pipe.tokenizer)
    from transformers import Qwen2VLProcessor

    path = str(resolve_tiny_model(model) or model)
    try:
        return Qwen2VLProcessor.from_pretrained(path, subfolder="processor", local_files_only=True)
    except (OSError, ValueError):
        raise click.BadParameter(_NO_PROCESSOR.format(model=model), param_hint="'--edit'") from None
