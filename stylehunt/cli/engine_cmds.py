"""``stylehunt generate`` and ``stylehunt heads``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from .app import cli, quiet_model_loading
from ..errors import GuidanceError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny-sd3"


def _parse_heads(spec: str) -> list[tuple[int, int]]:
    """``"12:5,3:17"`` -> ``[(12, 5), (3, 17)]``."""
    heads = []
    for part in spec.split(","):
        layer, sep, head = part.strip().partition(":")
        if not sep or not layer.strip().isdigit() or not head.strip().isdigit():
            raise click.BadParameter(
                f"{part.strip()!r} is not LAYER:HEAD (write e.g. --heads 12:5,3:17)", param_hint="--heads"
            )
        heads.append((int(layer), int(head)))
    return heads


@cli.command()
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Pipeline folder, Hub id, or tiny-sd3 / tiny-sd3.5 / tiny-flux (built offline).")
@click.option("--preset", "presets", multiple=True, metavar="REF",
              help="Preset reference (registry name, hf-hub:owner/repo, or a file). Repeatable.")
@click.option("--heads", "head_specs", multiple=True, metavar="L:H,...",
              help="An ad-hoc preset from (layer, head) pairs, e.g. 12:5,3:17. Repeatable.")
@click.option("--strength", "strengths", multiple=True, type=float,
              help="SoftPAG u in [0, 1]: once for all presets, or once per preset (in order: --preset then --heads).")
@click.option("--scale", type=float, default=None, help="Head guidance scale w (default: the presets' own, else 3).")
@click.option("--identity", type=click.Choice(["joint", "image"]), default="joint", show_default=True,
              help="joint: every token attends to itself; image: diffusers' SD3 PAG semantics.")
@click.option("--prompt", required=True, help="Text prompt.")
@click.option("--negative-prompt", default=None, help="Negative prompt (SD3 CFG, or FLUX true CFG).")
@click.option("--guidance-scale", type=float, default=None,
              help="The pipeline's own guidance_scale (SD3 CFG; FLUX distilled guidance).")
@click.option("--true-cfg-scale", type=float, default=None, help="FLUX true CFG scale (needs --negative-prompt).")
@click.option("--steps", type=int, default=20, show_default=True, help="Denoising steps.")
@click.option("--height", type=int, default=None, help="Image height in px (default: the model's).")
@click.option("--width", type=int, default=None, help="Image width in px (default: the model's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--start", type=float, default=0.0, show_default=True, help="Guide from this fraction of the steps.")
@click.option("--stop", type=float, default=1.0, show_default=True, help="Guide until this fraction of the steps.")
@click.option("--baseline/--no-baseline", default=False,
              help="Also write the unguided image (same seed) next to --out, as NAME.baseline.png.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True)
@click.option("--device", default=None, help="torch device, e.g. cuda (default: cpu).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output PNG path.")
def generate(model, presets, head_specs, strengths, scale, identity, prompt, negative_prompt, guidance_scale,
             true_cfg_scale, steps, height, width, seed, start, stop, baseline, dtype, device, out):
    """Generate an image with presets applied (and optionally the unguided baseline)."""
    import torch

    from ..api import apply, remove, resolve_presets
    from ..models import load_pipeline
    from ..registry import Preset

    if not presets and not head_specs:
        raise click.UsageError("give at least one --preset REF or --heads L:H,...")
    chosen = resolve_presets(list(presets)) + [Preset(heads=_parse_heads(s)) for s in head_specs]
    if strengths and len(strengths) not in (1, len(chosen)):
        raise GuidanceError(f"got {len(strengths)} --strength values for {len(chosen)} presets; give one, or one per preset")
    quiet_model_loading()
    pipe = load_pipeline(model, dtype=dtype, device=device)
    pipe.set_progress_bar_config(disable=True)
    kwargs = {"num_inference_steps": steps, "height": height, "width": width}
    for key, value in (("negative_prompt", negative_prompt), ("guidance_scale", guidance_scale),
                       ("true_cfg_scale", true_cfg_scale)):
        if value is not None:
            kwargs[key] = value
    apply_kwargs = dict(scale=scale if scale is not None else None, identity=identity, start=start, stop=stop)
    if strengths:
        apply_kwargs["strengths"] = strengths[0] if len(strengths) == 1 else list(strengths)
    apply(pipe, chosen, **apply_kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        image = pipe(prompt, generator=torch.Generator().manual_seed(seed), **kwargs).images[0]
        image.save(out)
        written.append(out)
    finally:
        remove(pipe)
    if baseline:
        plain = pipe(prompt, generator=torch.Generator().manual_seed(seed), **kwargs).images[0]
        path = out.with_name(f"{out.stem}.baseline{out.suffix or '.png'}")
        plain.save(path)
        written.append(path)
    for path in written:
        click.echo(str(path))


@cli.command()
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Pipeline folder, Hub id (config only is read), or tiny-sd3 / tiny-sd3.5 / tiny-flux.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def heads(model, fmt):
    """Print a model's head grid: layers, heads per layer, module names.

    Only transformer/config.json is read; the transformer is built on the meta device (no weights).
    """
    from ..engine.heads import head_grid
    from ..models import load_transformer_skeleton

    grid = head_grid(load_transformer_skeleton(model))
    if fmt == "json":
        click.echo(json.dumps({**grid.to_dict(), "fingerprint": grid.fingerprint()}, indent=2))
    else:
        click.echo(grid.format())
