"""What the engine must know about one model family, as data: the `Adapter`.

Owns `Adapter` and its `LayerGroup`s, the vocabularies their fields take (`KINDS`, `CFG_LAYOUTS`, `OUTPUTS`,
`INJECTIONS`, `IDENTITY_MODES`, `NEGATIVE_ENCODINGS`) and the module-path helpers `resolve` and `expand`.
Nothing here imports torch: the registry reads the vocabulary (`KINDS`, the supported transformer classes) without it.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NamedTuple

__all__ = [
    "KINDS",
    "CFG_LAYOUTS",
    "OUTPUTS",
    "INJECTIONS",
    "IDENTITY_MODES",
    "NEGATIVE_ENCODINGS",
    "AttentionLayer",
    "LayerGroup",
    "Adapter",
    "resolve",
    "expand",
]

#: Token layout of the sequence each kind of attention layer attends over:
#:
#: * ``"image_text"``: joint sequence [image, text] (SD3 joint attention)
#: * ``"text_image"``: joint sequence [text, image] (FLUX double and single blocks)
#: * ``"image"``: image tokens only (SD3.5 ``attn2``)
#: * ``"text"``: text tokens only (FLUX 3's text mode blocks): the joint identity is the identity over
#:   them; the image identity leaves them as they are (it changes what image queries see, and there are none)
KINDS = ("image_text", "text_image", "image", "text")

#: How a pipeline lays out its conditional rows in the transformer calls of one denoising step:
#:
#: * ``"uncond_first"``: one batched call ``[uncond, cond]`` while CFG is on (SD3);
#: * ``"cond_first"``: one batched call ``[cond, uncond]`` while CFG is on (Z-Image base);
#: * ``"separate"``: the first call holds only conditional rows; a later call in the same step is
#:   the unconditional one (FLUX true CFG, Chroma, Qwen-Image, Wan);
#: * ``"none"``: every row is conditional and there is no second call (distilled models).
CFG_LAYOUTS = ("uncond_first", "cond_first", "separate", "none")

#: What the transformer's forward returns in ``out[0]`` / ``out.sample``: ``"tensor"`` (one tensor
#: with the batch on dim 0) or ``"per_sample_list"`` (a Python list with one tensor per row, Z-Image).
OUTPUTS = ("tensor", "per_sample_list")

#: Where ``w (eps_c - eps_pert)`` is added:
#:
#: * ``"transformer"``: to the transformer's output, on the conditional rows and their unconditional
#:   partners (and on later calls of the same step). Exact when the pipeline's CFG is an affine
#:   combination whose weights sum to 1 (SD3, FLUX.1, Chroma, FLUX.2, Wan);
#: * ``"scheduler"``: to the ``model_output`` the pipeline hands to ``scheduler.step``, after its own
#:   CFG and any renormalisation (Qwen-Image's norm-rescaled true CFG, Z-Image's
#:   ``cfg_normalization``), which an output-side term would pass through. ``output_sign`` maps the
#:   transformer's output to the scheduler's input (Z-Image's pipeline negates it).
INJECTIONS = ("transformer", "scheduler")

#: What a perturbed head's map becomes at strength 1: ``"joint"`` (identity over the layer's whole
#: token sequence) or ``"image"`` (each image token attends to itself and the text); see docs/engine.md.
IDENTITY_MODES = ("joint", "image")

#: How the pipeline's ``encode_prompt`` gives the negative (empty) prompt's values, for CFG:
#:
#: * ``"together"``: one call with ``negative_prompt`` and ``do_classifier_free_guidance`` returns
#:   the prompt's and the negative prompt's values (SD3, Chroma, most diffusers pipelines);
#: * ``"separate"``: ``encode_prompt`` knows no negative prompt; the empty prompt is encoded by a
#:   second call, and each value it returns is passed back as ``negative_<name>`` (FLUX.1).
NEGATIVE_ENCODINGS = ("together", "separate")


class AttentionLayer(NamedTuple):
    """One addressable attention module of a transformer, as its adapter lists it."""

    module_name: str  # dotted path inside the transformer, e.g. "transformer_blocks.0.attn"
    module: Any  # the attention module itself
    kind: str  # one of KINDS


@dataclass(frozen=True)
class LayerGroup:
    """One run of addressable attentions: the attribute ``attn`` of every block in ``blocks``.

    The groups of an adapter, in order, give the flat layer addresses: group 0's blocks first.
    """

    #: dotted path of a ``ModuleList`` on the transformer, e.g. ``"transformer_blocks"``; a ``*`` part
    #: ranges over a module list's items, in order, and an item that lacks the rest of the path is
    #: skipped (a U-Net's ``"down_blocks.*.attentions.*.transformer_blocks"``: its down blocks without
    #: attention have no ``attentions``)
    blocks: str
    #: dotted path of the attention inside one block, e.g. ``"attn"``, ``"attn2"``, ``"attn1"``
    attn: str = "attn"
    #: token layout at the attention's SDPA call (one of `KINDS`)
    kind: str = "text_image"
    #: skip blocks where the attention is missing or ``None`` (SD3.5 has ``attn2`` in some blocks only)
    optional: bool = False
    #: the block forward's arguments that carry the batch on dim 0 (hidden streams, ``temb``, per-row
    #: masks), for the shared prefix (`stylehunt.engine.prefix`): a block before a perturbed
    #: row's first perturbed layer runs without that row. Empty: the family opts out (every block
    #: computes every row)
    block_rows: tuple[str, ...] = ()

    def block_list(self, transformer: Any) -> list[tuple[str, Any]]:
        """``(dotted path, block)`` of every block of this group in ``transformer``, in order."""
        return [(f"{path}.{i}", block) for path, blocks in expand(transformer, self.blocks) for i, block in enumerate(blocks)]

    def layers(self, transformer: Any) -> list[AttentionLayer]:
        """This group's attentions in ``transformer``, in block order."""
        out = []
        for name, block in self.block_list(transformer):
            module = resolve(block, self.attn, missing_ok=self.optional)
            if module is not None:
                out.append(AttentionLayer(f"{name}.{self.attn}", module, self.kind))
        return out


@dataclass(frozen=True)
class Adapter:
    """One model family: which classes it covers and how its forward and layers are laid out.

    A family module (``sd3.py``, ``flux.py``, ``chroma.py``, ...) declares one ``ADAPTER``; the generic
    engine reads its fields and never branches on a family's name. The fields answer the questions on
    which diffusers families differ (see ``docs/engine.md``, "Adding a model family"): which attention
    layers are addressable and in what order, which forward arguments carry the batch, how the pipeline
    lays out its conditional rows, what the transformer returns, which components denoise, where the
    guidance term goes, which identity modes the token layout allows, and which arguments the engine
    cannot guide through. A second set of fields, at the end, tells the head search how to drive the pipeline.
    """

    #: short family name, recorded in preset fingerprints (``"chroma"``)
    name: str
    #: class names of the family's transformers, as diffusers saves them in ``_class_name``
    transformer_classes: tuple[str, ...]
    #: pipeline classes (and their subclasses) the engine guides
    pipeline_classes: tuple[str, ...]
    #: the addressable attentions, in flat address order; their block lists are named in the order
    #: the transformer runs them (the shared prefix relies on it)
    layer_groups: tuple[LayerGroup, ...]
    #: the forward argument whose length (dim 0 of a tensor, or a list's length) is the batch
    batch_arg: str = "hidden_states"
    #: forward arguments that are tensors carrying the batch on dim 0
    batched: tuple[str, ...] = ("hidden_states", "encoder_hidden_states", "timestep")
    #: forward arguments that are Python lists with one entry per row
    batched_per_sample: tuple[str, ...] = ()
    #: forward arguments that are lists of batched tensors, one per block (ControlNet residuals)
    batched_per_block: tuple[str, ...] = ()
    #: forward arguments that are dicts of batched tensors (SDXL's ``added_cond_kwargs``:
    #: ``text_embeds`` and ``time_ids``); a value that is not a batched tensor is refused
    batched_dicts: tuple[str, ...] = ()
    #: conditional row layout, one of `CFG_LAYOUTS`
    cfg: str = "separate"
    #: for a batched layout: the pipeline attribute that says whether CFG is on in this call
    cfg_flag: str = "do_classifier_free_guidance"
    #: for a batched layout whose CFG can be off for some steps of a CFG call (Z-Image's
    #: ``cfg_truncation``): ``cfg_in_call(pipe) -> bool`` replaces reading ``cfg_flag``
    cfg_in_call: Callable[[Any], bool] | None = None
    #: the transformer's output type, one of `OUTPUTS`
    output: str = "tensor"
    #: further outputs beside the sample, each with the batch on dim 0, by attribute name of the output
    #: class (in a tuple output: the elements after the first, in this order). LTX-2 returns
    #: ``(sample, audio_sample)``: the guidance term is formed and added on every output alike
    extra_outputs: tuple[str, ...] = ()
    #: pipeline attributes holding the denoisers: the first is required and defines the head grid;
    #: the others (Wan 2.2's second expert ``transformer_2``) are guided with the same heads when
    #: present and must have the same grid
    denoisers: tuple[str, ...] = ("transformer",)
    #: where the guidance term is added, one of `INJECTIONS`
    inject: str = "transformer"
    #: ``"scheduler"`` injection: the sign the pipeline applies to the transformer output before
    #: ``scheduler.step`` (-1 for Z-Image, which negates it)
    output_sign: float = 1.0
    #: the identity modes this family's token layout allows (a subset of `IDENTITY_MODES`)
    identities: tuple[str, ...] = IDENTITY_MODES
    #: why a mode is missing from ``identities``, for the error message
    identity_note: str = ""
    #: forward arguments the engine cannot guide through: a call that sets one is refused (KV caches
    #: hold keys/values per batch row, so an appended perturbed row would read another row's cache)
    refuse_if_set: tuple[str, ...] = ("kv_cache", "kv_cache_mode")
    #: the transformer's own SoftPAG, used instead of the attention hooks when the strengths fit it:
    #: ``(mask argument, blocks argument, config flag)``. LTX-2's ``perturbation_mask`` (one value per
    #: row) makes every self-attention of the blocks listed in ``spatio_temporal_guidance_blocks``
    #: output ``lerp(value, out, mask)``, SoftPAG at ``u = 1 - mask`` on all their heads, when the config
    #: sets ``perturbed_attn``. A table fits when each row perturbs every head of every addressable
    #: layer of the same blocks at one strength (`stylehunt.engine.prefix.native_mask_blocks`)
    native_mask: tuple[str, str, str] | tuple[()] = ()
    #: pipeline attributes that, when non-zero during a guided call, make the pipeline's combination of
    #: its transformer calls non-affine, with the reason: the call is refused, since a transformer-side term
    #: would no longer reach the scheduler as ``w (eps_c - eps_pert)`` (LTX-2's ``guidance_rescale``)
    refuse_if_nonzero: tuple[tuple[str, str], ...] = ()
    #: pipeline call arguments the CLI and the search always pass (LTX-2: no rescale, see
    #: ``refuse_if_nonzero``, and the audio CFG scale following the video one)
    call_args: tuple[tuple[str, Any], ...] = ()
    #: transformer config keys that, when true, make the transformer unguidable, with the reason
    #: (Qwen-Image-Edit-2511's ``zero_cond_t`` doubles the timestep batch inside the forward)
    refuse_config: tuple[tuple[str, str], ...] = ()
    #: the forward argument whose dim 1 is the number of text tokens (for ``identity="image"``)
    text_arg: str = "encoder_hidden_states"
    #: the processor may compute one layer's attention in several calls, each over a run of queries that
    #: are the *last* keys of its call (keys = cat(earlier tokens, the run's own)): Qwen-Image 2.1's
    #: block-causal prefill (one call per text or image segment) and its cached decode (keys =
    #: cat(cached prefix, target)). Every call is mixed, and the identity points query ``i`` of a call at
    #: key ``n_keys - n_queries + i``. False: exactly one self-attention call per layer, as many keys as queries
    query_runs: bool = False
    #: forward arguments holding a cache with one entry per batch row, kept across the steps of one
    #: pipeline call (Qwen-Image 2.1's prefix ``kv_cache``): while one is set, the first call of every step
    #: runs the same rows (no row computed once for its duplicates, the perturbed rows appended at an
    #: unguided step too, their term dropped), so that row ``r`` of the cache stays row ``r`` of the batch
    row_caches: tuple[str, ...] = ()
    #: ``"scheduler"`` injection: which tokens of the transformer output the pipeline hands to
    #: ``scheduler.step`` when it keeps fewer: ``"leading"`` (Qwen-Image-Edit drops the reference images
    #: after the target) or ``"trailing"`` (Qwen-Image 2.1 drops the text and condition images before it)
    kept_tokens: str = "leading"
    #: the first diffusers release with everything the family uses (``"0.41"``), when that is newer than
    #: the minimum ``pyproject.toml`` declares; "" when the declared minimum has it all. An older diffusers
    #: is refused naming this version (`families.check_diffusers_version`) before anything is built
    min_diffusers: str = ""
    #: the family name head grids and fingerprints record, when adapters share a transformer class
    #: and its layer layout (the SDXL and the SD 1.x / 2.x pipelines: ``"unet"``); default ``name``
    grid_family: str = ""
    #: record ``"family"`` in fingerprints; False only for the families whose published presets
    #: predate the field (SD3, FLUX.1), so their fingerprints stay byte-identical
    fingerprint_family: bool = True

    # -- how the head search drives the pipeline (it encodes each prompt once, then calls the
    # -- pipeline with the concatenated values; see stylehunt.headhunter.sampler): how a prompt is encoded
    # -- and handed back as call arguments, how CFG is switched on and off, which module counts the
    # -- transformer's rows, and the image size a token covers
    #: keyword arguments ``encode_prompt`` needs besides ``prompt`` and ``device`` (SD3's has no
    #: default for ``prompt_2`` and ``prompt_3``; one sample per prompt is every pipeline's default)
    encode_args: tuple[tuple[str, Any], ...] = ()
    #: ``encode_prompt``'s return values in order, each named by the pipeline call argument that
    #: takes it back (``None``: not passed back, e.g. FLUX's text ids, which the pipeline rebuilds)
    encode_returns: tuple[str | None, ...] = ("prompt_embeds", "negative_prompt_embeds")
    #: ``encode_prompt`` returns its one value bare, not in a tuple (ERNIE-Image: a list with one
    #: embedding per prompt); ``encode_returns`` then names just that value
    encode_one_value: bool = False
    #: how the negative prompt is encoded, one of `NEGATIVE_ENCODINGS`
    encode_negative: str = "together"
    #: the pipeline call argument that sets the CFG scale (FLUX.1: ``true_cfg_scale``)
    cfg_scale_arg: str = "guidance_scale"
    #: the pipeline component whose config holds the CFG scale, for pipelines whose call takes none
    #: (HunyuanVideo 1.5 hands CFG to its ``guider``): ``cfg_scale_arg`` then names that config key, and
    #: `cfg_call` swaps in a copy of the component (``component.new(key=value)``) for one call
    cfg_component: str = ""
    #: the most samples one pipeline call can decode (0: no limit): diffusers 0.42.1's HunyuanVideo 1.5
    #: VAE builds its causal mask ``(batch, S, S)`` and broadcasts it against ``(batch, 1, S, S)``, which
    #: fails for 2 or more videos, so the search refuses a larger ``batch_size`` up front
    max_batch: int = 0
    #: the value of ``cfg_scale_arg`` that turns CFG off (``<= 1`` for most pipelines, whose own
    #: default turns it on: Chroma's is 5); ``None``: leave the argument out (FLUX.1 runs true CFG only
    #: when it is given)
    cfg_off_scale: float | None = 1.0
    #: the transformer submodule that first sees the latent batch (perturbed rows included): a
    #: forward pre-hook on it counts the transformer's rows (SD3's patch embedding is ``pos_embed``;
    #: FLUX's ``pos_embed`` is the RoPE over token ids, so FLUX and Chroma count at ``x_embedder``)
    input_embedder: str = "x_embedder"
    #: latents per side the pipeline packs into one token on top of the transformer's ``patch_size``
    #: (FLUX.1 and Chroma pack 2x2 latents and configure ``patch_size`` 1): an image side must be a
    #: multiple of ``vae_scale_factor x patch_size x latent_packing``
    latent_packing: int = 1

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("cfg", self.cfg, CFG_LAYOUTS),
            ("output", self.output, OUTPUTS),
            ("inject", self.inject, INJECTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"adapter {self.name!r}: `{field}` must be one of {allowed}, but got {value!r}")
        for group in self.layer_groups:
            if group.kind not in KINDS:
                raise ValueError(f"adapter {self.name!r}: layer kind must be one of {KINDS}, but got {group.kind!r}")
        if self.encode_negative not in NEGATIVE_ENCODINGS:
            raise ValueError(
                f"adapter {self.name!r}: `encode_negative` must be one of {NEGATIVE_ENCODINGS}, "
                f"but got {self.encode_negative!r}"
            )
        if self.min_diffusers and not re.fullmatch(r"\d+\.\d+(\.\d+)?", self.min_diffusers):
            raise ValueError(f"adapter {self.name!r}: `min_diffusers` must be a release like '0.41', but got {self.min_diffusers!r}")
        if self.kept_tokens not in ("leading", "trailing"):
            raise ValueError(f"adapter {self.name!r}: `kept_tokens` must be 'leading' or 'trailing', but got {self.kept_tokens!r}")
        if self.output_sign not in (1.0, -1.0):
            raise ValueError(f"adapter {self.name!r}: `output_sign` must be 1.0 or -1.0, but got {self.output_sign!r}")
        if "prompt_embeds" not in self.encode_returns:
            raise ValueError(f"adapter {self.name!r}: `encode_returns` must name the return value `prompt_embeds`")
        if self.extra_outputs and (self.inject == "scheduler" or self.output != "tensor"):
            raise ValueError(f"adapter {self.name!r}: `extra_outputs` needs inject 'transformer' and output 'tensor'")
        if isinstance(self.latent_packing, bool) or not isinstance(self.latent_packing, int) or self.latent_packing < 1:
            raise ValueError(f"adapter {self.name!r}: `latent_packing` must be an integer >= 1, but got {self.latent_packing!r}")
        bad = [m for m in self.identities if m not in IDENTITY_MODES]
        if bad or not self.identities:
            raise ValueError(f"adapter {self.name!r}: `identities` must be a non-empty subset of {IDENTITY_MODES}")
        if not (self.transformer_classes and self.pipeline_classes and self.layer_groups and self.denoisers):
            raise ValueError(
                f"adapter {self.name!r} needs transformer_classes, pipeline_classes, layer_groups and denoisers"
            )

    @property
    def family(self) -> str:
        """The family name head grids and fingerprints record (`grid_family`, else `name`)."""
        return self.grid_family or self.name

    def attention_layers(self, transformer: Any) -> list[AttentionLayer]:
        """Every addressable attention of ``transformer``, in address order (layer ``i`` is element ``i``)."""
        return [layer for group in self.layer_groups for layer in group.layers(transformer)]

    def size_multiple(self, vae_scale_factor: int, patch_size: int | tuple[int, ...] | list[int] | None) -> int:
        """What image sides must be multiples of: one token covers this many pixels per side.

        A video transformer's patch size is ``(frames, height, width)`` (Wan: ``[1, 2, 2]``): its
        spatial entries count.

        >>> from stylehunt.engine.families import adapter_named
        >>> adapter_named("sd3").size_multiple(8, 2), adapter_named("flux").size_multiple(8, 1)
        (16, 16)
        >>> adapter_named("sd3").size_multiple(8, [1, 2, 2])
        16
        """
        if isinstance(patch_size, (list, tuple)):
            patch_size = math.lcm(*(int(p) for p in patch_size[-2:]))
        return int(vae_scale_factor) * int(patch_size or 1) * self.latent_packing

    @contextmanager
    def cfg_call(self, pipe: Any, scale: float | None) -> Iterator[dict[str, Any]]:
        """The pipeline call arguments that set CFG to ``scale`` (``None``: leave it as it is).

        Most pipelines take the scale as a call argument (``{cfg_scale_arg: scale}``); for a
        `cfg_component` family the component is replaced by a copy with that scale while the
        block runs, and put back afterwards, so the user's pipeline keeps its own guider.
        """
        if scale is None:
            yield {}
            return
        if not self.cfg_component:
            yield {self.cfg_scale_arg: scale}
            return
        held = getattr(pipe, self.cfg_component)
        setattr(pipe, self.cfg_component, held.new(**{self.cfg_scale_arg: scale}))
        try:
            yield {}
        finally:
            setattr(pipe, self.cfg_component, held)

    def refused_config(self, transformer: Any) -> str | None:
        """Why ``transformer``'s config makes it unguidable (a `refuse_config` key is set), or ``None``."""
        config = getattr(transformer, "config", None)
        for key, reason in self.refuse_config:
            if getattr(config, key, None):
                return f"its config sets `{key}`: {reason}"
        return None


    def refused_call(self, pipe: Any) -> str | None:
        """Why ``pipe``'s call in progress cannot be guided (a `refuse_if_nonzero` attribute is set), or ``None``."""
        for key, reason in self.refuse_if_nonzero:
            value = getattr(pipe, key, None)
            if value:
                return f"the pipeline runs with {key}={value!r}: {reason}"
        return None


def resolve(obj: Any, path: str, missing_ok: bool = False) -> Any:
    """``obj.<path>`` for a dotted path; ``None`` where a part is missing and ``missing_ok``.

    A path with ``*`` parts (see `LayerGroup.blocks`) gives the items of every module list it
    matches, in order, as one list.
    """
    if "*" in path.split("."):
        return [item for _, items in expand(obj, path) for item in items]
    for part in path.split("."):
        obj = getattr(obj, part, None) if missing_ok else getattr(obj, part)
        if obj is None:
            return None
    return obj


def expand(obj: Any, path: str) -> list[tuple[str, Any]]:
    """``(dotted path, object)`` of every match of ``path`` in ``obj``, in order.

    Without ``*`` parts that is ``[(path, obj.<path>)]`` (a missing part raises ``AttributeError``);
    a ``*`` part ranges over the items of a module list, and an item lacking the rest of the path
    (or holding ``None`` there) is skipped.

    >>> from types import SimpleNamespace as N
    >>> unet = N(down_blocks=[N(), N(attentions=["a0", "a1"])], mid_block=None)
    >>> expand(unet, "down_blocks.*.attentions")
    [('down_blocks.1.attentions', ['a0', 'a1'])]
    >>> expand(unet, "mid_block.*.attentions")
    []
    """
    if "*" not in path.split("."):
        return [(path, resolve(obj, path))]
    found: list[tuple[str, Any]] = [("", obj)]
    for part in path.split("."):
        step: list[tuple[str, Any]] = []
        for prefix, item in found:
            if part == "*":
                step.extend((f"{prefix}{i}.", child) for i, child in enumerate(item))
            elif getattr(item, part, None) is not None:
                step.append((f"{prefix}{part}.", getattr(item, part)))
        found = step
    return [(prefix[:-1], item) for prefix, item in found]
