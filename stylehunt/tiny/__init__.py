"""Tiny random-weight SD3 / SD3.5 / FLUX.1 pipelines, built entirely offline.

These pipelines exist so that the tests, the demo and the benchmarks can run the *real* diffusers
code paths (pipeline classes, attention processors, ``save_pretrained`` / ``from_pretrained``) on a
machine without a GPU and without the Hugging Face Hub. Every component is built in code from a
small config: tokenizers with an in-memory character vocabulary, two CLIP text encoders and a T5
encoder, a 4-block VAE (so ``vae_scale_factor`` is the real 8), a flow-matching scheduler, and a
transformer of the right class and shape but with a handful of layers and heads.

The weights are random (deterministic for a given seed), so the images are noise-like. Use these
models to check that code runs, that shapes, hooks and head addresses are right, and to time
overheads; never to judge image quality or the effect of a style preset.

Families (:data:`TINY_FAMILIES`):

* ``"sd3"``: :class:`~diffusers.StableDiffusion3Pipeline` with an ``SD3Transformer2DModel`` of 2
  blocks x 4 heads x head dim 8; ``sample_size=32, patch_size=1``, so the default resolution is
  256 px (32 x 32 latent, 1024 image tokens).
* ``"sd3.5"``: the same, SD3.5-medium-shaped: ``qk_norm="rms_norm"`` and
  ``dual_attention_layers=(0,)`` (block 0 also has the image-only ``attn2``).
* ``"flux"``: :class:`~diffusers.FluxPipeline` with a FLUX.1-dev-shaped ``FluxTransformer2DModel``
  (2 double + 2 single blocks x 2 heads x head dim 16, ``guidance_embeds=True``); the VAE has one
  latent channel, packed 2 x 2 into 4 transformer input channels.

Example::

    pipe = load_tiny_pipeline("sd3")          # built once into the cache, then from_pretrained
    image = pipe("a cat", num_inference_steps=2, height=64, width=64).images[0]

``tiny_pipeline_path`` caches under ``$STYLEHUNT_CACHE/tiny/<family>-v2`` (default
``~/.cache/stylehunt``). The folder appears atomically (built in a temporary sibling, then
``os.replace``), so an interrupted build never leaves a half-written model behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import UnsupportedModelError

if TYPE_CHECKING:  # heavy imports only when building
    from diffusers import DiffusionPipeline

__all__ = [
    "TINY_FAMILIES",
    "UnknownTinyFamilyError",
    "build_tiny_pipeline",
    "save_tiny_pipeline",
    "tiny_pipeline_path",
    "load_tiny_pipeline",
    "resolve_tiny_model",
    "TINY_MODEL_NAMES",
]

logger = logging.getLogger(__name__)

#: The tiny model families, in the order they are documented.
TINY_FAMILIES = ("sd3", "sd3.5", "flux")

#: Bump when any config below changes, so stale cached models are not reused.
_CACHE_VERSION = "v1"

#: Model names accepted by :func:`resolve_tiny_model`, e.g. ``"tiny-sd3.5"``.
_NAME_PREFIX = "tiny-"

# Sizes shared by the text side. CLIP hidden size 32 per encoder; SD3 concatenates both CLIP
# encoders (64) and pads them to the T5 width, as the real models do (768 + 1280 -> 4096).
_CLIP_HIDDEN = 32
_CLIP_MAX_LENGTH = 77  # the real CLIP context; the pipelines pad every prompt to it
_SD3_T5_DIM = 64
_FLUX_T5_DIM = 32


class UnknownTinyFamilyError(UnsupportedModelError, ValueError):
    """An unknown tiny family name: an ``UnsupportedModelError`` that is also a ``ValueError``.

    ``family`` is the value given, ``available`` is :data:`TINY_FAMILIES`.
    """

    def __init__(self, message: str, *, family: Any, available: tuple[str, ...] = TINY_FAMILIES):
        super().__init__(message, hint=f"tiny model names are {', '.join(_NAME_PREFIX + f for f in available)}")
        self.family = family
        self.available = tuple(available)


def _check_family(family: Any) -> str:
    if family not in TINY_FAMILIES:
        raise UnknownTinyFamilyError(
            f"Unknown tiny model family {family!r}; expected one of {', '.join(map(repr, TINY_FAMILIES))}.",
            family=family,
        )
    return family


# --------------------------------------------------------------------------------------------------
# Tokenizers (in memory, no Hub)
# --------------------------------------------------------------------------------------------------


def _clip_tokenizer():
    """A CLIP BPE tokenizer with a byte-level character vocabulary and no merges.

    Ids: 0 ``<|startoftext|>``, 1 ``<|endoftext|>`` (also eos, pad and unk), then the 256
    byte-level characters and their 256 end-of-word (``</w>``) variants: 514 tokens.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=_CLIP_MAX_LENGTH)


def _t5_tokenizer():
    """A T5 (unigram) tokenizer over printable ASCII characters. Ids: 0 pad, 1 eos, 2 unk, 3 ``▁``."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(chr(i), -3.0) for i in range(0x21, 0x7F)]  # printable ASCII without space
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


# --------------------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------------------


def _clip_config(vocab_size: int):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=_CLIP_HIDDEN,
        intermediate_size=64,
        projection_dim=_CLIP_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=_CLIP_MAX_LENGTH,
        hidden_act="quick_gelu",
        # eos must be the tokenizer's <|endoftext|> id: the pooled output is taken at eos.
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )


def _t5_encoder(vocab_size: int, d_model: int):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=8,
        d_ff=2 * d_model,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",  # T5 v1.1, as in SD3 and FLUX
        is_encoder_decoder=False,
        use_cache=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def _vae(latent_channels: int, scaling_factor: float, shift_factor: float):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4,) * 4,  # 4 blocks -> vae_scale_factor 2**3 = 8, as in the real VAEs
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=1,
        sample_size=256,
        scaling_factor=scaling_factor,
        shift_factor=shift_factor,
        use_quant_conv=False,  # SD3 and FLUX VAEs have no quant convs
        use_post_quant_conv=False,
    )


def _sd3_transformer(sd35: bool):
    from diffusers import SD3Transformer2DModel

    extra = {"qk_norm": "rms_norm", "dual_attention_layers": (0,)} if sd35 else {}
    return SD3Transformer2DModel(
        sample_size=32,  # default resolution 32 latent px * 8 = 256 px -> 1024 image tokens
        patch_size=1,
        in_channels=16,  # 16 latent channels as the real SD3 VAE (the SD3 inpaint pipeline insists)
        out_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=_SD3_T5_DIM,  # = T5 d_model
        pooled_projection_dim=2 * _CLIP_HIDDEN,  # = both CLIP projections concatenated
        pos_embed_max_size=96,  # up to 768 px
        **extra,
    )


def _flux_transformer():
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,  # 1 latent channel packed 2 x 2
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_FLUX_T5_DIM,  # = T5 d_model
        pooled_projection_dim=_CLIP_HIDDEN,  # = CLIP pooled output
        guidance_embeds=True,  # FLUX.1-dev-shaped (distilled guidance input)
        axes_dims_rope=(4, 4, 8),  # must sum to the head dim
    )


def _seeded(seed: int, index: int, make: Callable[[], Any]) -> Any:
    """Build one component with the torch RNG seeded from ``(seed, index)``.

    Each component gets its own seed, so its weights do not depend on how many random numbers the
    components built before it consumed.
    """
    import torch

    torch.manual_seed(seed * 1000 + index)
    return make()


def _sd3_components(seed: int, sd35: bool) -> dict[str, Any]:
    from diffusers import FlowMatchEulerDiscreteScheduler
    from transformers import CLIPTextModelWithProjection

    clip_tok = _clip_tokenizer()
    t5_tok = _t5_tokenizer()
    return {
        "transformer": _seeded(seed, 0, lambda: _sd3_transformer(sd35)),
        # Real SD3 VAE constants (16 latent channels there, 4 here).
        "vae": _seeded(seed, 1, lambda: _vae(16, scaling_factor=1.5305, shift_factor=0.0609)),
        "text_encoder": _seeded(seed, 2, lambda: CLIPTextModelWithProjection(_clip_config(len(clip_tok)))),
        "text_encoder_2": _seeded(seed, 3, lambda: CLIPTextModelWithProjection(_clip_config(len(clip_tok)))),
        "text_encoder_3": _seeded(seed, 4, lambda: _t5_encoder(len(t5_tok), _SD3_T5_DIM)),
        "tokenizer": clip_tok,
        "tokenizer_2": _clip_tokenizer(),
        "tokenizer_3": t5_tok,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),  # as SD3 / SD3.5 ship
    }


def _flux_components(seed: int) -> dict[str, Any]:
    from diffusers import FlowMatchEulerDiscreteScheduler
    from transformers import CLIPTextModel

    clip_tok = _clip_tokenizer()
    t5_tok = _t5_tokenizer()
    return {
        "transformer": _seeded(seed, 0, _flux_transformer),
        # Real FLUX VAE constants (16 latent channels there, 1 here).
        "vae": _seeded(seed, 1, lambda: _vae(1, scaling_factor=0.3611, shift_factor=0.1159)),
        "text_encoder": _seeded(seed, 2, lambda: CLIPTextModel(_clip_config(len(clip_tok)))),
        "text_encoder_2": _seeded(seed, 3, lambda: _t5_encoder(len(t5_tok), _FLUX_T5_DIM)),
        "tokenizer": clip_tok,
        "tokenizer_2": t5_tok,
        # FLUX.1-dev's scheduler: the pipeline computes `mu` from the image sequence length.
        "scheduler": FlowMatchEulerDiscreteScheduler(
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        ),
    }


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def build_tiny_pipeline(family: str = "sd3", seed: int = 0) -> DiffusionPipeline:
    """Build a tiny random-weight pipeline in memory (float32, CPU).

    The same ``family`` and ``seed`` always give bit-identical weights. The caller's global torch
    RNG state is left as it was.

    Raises:
        UnknownTinyFamilyError: ``family`` is not one of :data:`TINY_FAMILIES` (also a
            ``ValueError`` and an ``UnsupportedModelError``).
    """
    _check_family(family)
    import torch
    from diffusers import FluxPipeline, StableDiffusion3Pipeline

    with torch.random.fork_rng(devices=[]):
        if family == "flux":
            pipe = FluxPipeline(**_flux_components(seed))
        else:
            pipe = StableDiffusion3Pipeline(**_sd3_components(seed, sd35=family == "sd3.5"))
    # Inference mode, as from_pretrained leaves models: constructors build in train mode, whose
    # dropout would make two identical calls differ.
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    logger.debug("Built tiny %s pipeline (seed %d)", family, seed)
    return pipe


def save_tiny_pipeline(path: str | os.PathLike[str], family: str = "sd3", seed: int = 0) -> Path:
    """Build a tiny pipeline and ``save_pretrained`` it into the folder ``path``; return the folder."""
    _check_family(family)
    path = Path(path)
    build_tiny_pipeline(family, seed).save_pretrained(path, safe_serialization=True)
    logger.debug("Saved tiny %s pipeline (seed %d) to %s", family, seed, path)
    return path


def _cache_root() -> Path:
    env = os.environ.get("STYLEHUNT_CACHE")
    return Path(env).expanduser() if env else Path("~/.cache/stylehunt").expanduser()


def _is_complete(folder: Path) -> bool:
    return (folder / "model_index.json").is_file()


def tiny_pipeline_path(family: str = "sd3") -> Path:
    """The folder of the cached tiny ``family`` pipeline (seed 0), building it on first use.

    The folder is ``$STYLEHUNT_CACHE/tiny/<family>-v2`` (default ``~/.cache/stylehunt``). It is
    built in a temporary sibling folder and moved into place with ``os.replace``, so it either
    exists complete or not at all; later calls (and other processes) reuse it untouched.
    """
    _check_family(family)
    parent = _cache_root() / "tiny"
    final = parent / f"{family}-{_CACHE_VERSION}"
    if _is_complete(final):
        return final
    parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        # Not something this module writes (its folders appear complete); do not trust it.
        logger.warning("Removing incomplete tiny model folder %s and rebuilding it", final)
        shutil.rmtree(final)
    logger.info("Building tiny %s pipeline into %s", family, final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=parent))
    try:
        save_tiny_pipeline(tmp, family, seed=0)
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process finished the same build first; its copy is identical.
            if not _is_complete(final):
                raise
            logger.debug("Tiny %s pipeline was built concurrently; using %s", family, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_tiny_pipeline(family: str = "sd3") -> DiffusionPipeline:
    """Load the cached tiny ``family`` pipeline with ``DiffusionPipeline.from_pretrained`` (offline)."""
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(tiny_pipeline_path(family), local_files_only=True)


#: The names ``--model`` and the registry accept for the tiny models: ``tiny-sd3`` etc.
TINY_MODEL_NAMES = tuple(f"tiny-{family}" for family in TINY_FAMILIES)


def resolve_tiny_model(name: str) -> Path | None:
    """Map ``"tiny-sd3"``, ``"tiny-sd3.5"`` or ``"tiny-flux"`` to :func:`tiny_pipeline_path`.

    Any other string (a Hub id, a local path, ...) is not a tiny model name: return ``None``.
    Matching is exact (``"tiny-SD3"`` is not a tiny model name).
    """
    if isinstance(name, str) and name.startswith(_NAME_PREFIX):
        family = name[len(_NAME_PREFIX) :]
        if family in TINY_FAMILIES:
            return tiny_pipeline_path(family)
    return None
