"""The tiny FLUX.2 pipelines, with a klein-shaped and a dev-shaped ``Flux2Transformer2DModel`` (2 double +
2 single blocks x 2 heads x head dim 16, the fused parallel single blocks, 4-axis RoPE) and FLUX.2's own VAE:

* ``"flux2"`` (`build_flux2_pipeline`): `diffusers.Flux2KleinPipeline` as FLUX.2-klein base, a Qwen3 text encoder;
* ``"flux2-dev"`` (`build_flux2_dev_pipeline`): `diffusers.Flux2Pipeline` as FLUX.2-dev, a Mistral3 text
  encoder and an in-memory Pixtral processor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import qwen2_tokenizer, seeded

if TYPE_CHECKING:
    from diffusers import Flux2KleinPipeline, Flux2Pipeline

__all__ = ["build_flux2_pipeline", "build_flux2_dev_pipeline"]

# The pipelines stack the text encoder's hidden states at fixed layers (klein 9, 18, 27; dev 10, 20, 30),
# three layers of width _TEXT_DIM into joint_attention_dim: the tiny encoders are deep enough for the
# pipelines' defaults, and narrow.
_TEXT_DIM = 16  # text encoder width; the pipelines stack three of its layers
_LATENT_CHANNELS = 2


def _transformer(guidance_embeds: bool):
    import math

    import torch
    from diffusers import Flux2Transformer2DModel

    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4 * _LATENT_CHANNELS,  # 2 x 2 patchified latents
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * _TEXT_DIM,
        timestep_guidance_channels=256,  # the released models' value
        axes_dims_rope=(4, 4, 4, 4),  # (t, h, w, l): must sum to the head dim
        guidance_embeds=guidance_embeds,
    )
    # FLUX.2 has no biases, and nn.Linear's default init shrinks each layer's output, so the chain from the
    # timestep embedding to the modulations would give gates of about 0.02: the blocks (and a perturbed head)
    # would barely touch the residual stream. Variance-preserving weights, N(0, 1/fan_in), give gates of about
    # 0.15, as a trained model's are not vanishing.
    with torch.no_grad():
        for name in ("time_guidance_embed", "double_stream_modulation_img", "double_stream_modulation_txt",
                     "single_stream_modulation", "norm_out"):
            for linear in getattr(transformer, name).modules():
                if isinstance(linear, torch.nn.Linear):
                    linear.weight.normal_(std=1 / math.sqrt(linear.in_features))
    return transformer


def _vae():
    """FLUX.2's own VAE (``AutoencoderKLFlux2``): 2 latent channels, which the pipelines patchify 2 x 2 into
    8 transformer input channels, and its batch-norm statistics."""
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(
        block_out_channels=(4,) * 4,  # 4 blocks -> vae_scale_factor 2**3 = 8, as in the real VAE
        layers_per_block=1,
        latent_channels=_LATENT_CHANNELS,
        norm_num_groups=1,
        sample_size=256,
    )


def _scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    # FLUX.2's: dynamic shifting, with the `mu` the pipelines compute from the image sequence length
    return FlowMatchEulerDiscreteScheduler(
        shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )


def _qwen3(vocab_size: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=vocab_size,
            hidden_size=_TEXT_DIM,
            intermediate_size=32,
            num_hidden_layers=28,  # klein reads hidden states 9, 18 and 27 (of 36 in Qwen3-4B / 8B)
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=512,  # the pipeline pads every prompt to max_sequence_length 512
        )
    )


def build_flux2_pipeline(seed: int) -> Flux2KleinPipeline:
    """The tiny FLUX.2-klein base pipeline; weights depend only on ``seed``.

    Klein base is not step-distilled, so CFG runs as a second, unconditional call; a Qwen3 text encoder
    with the in-memory Qwen2 tokenizer.
    """
    from diffusers import Flux2KleinPipeline

    tokenizer = qwen2_tokenizer()
    return Flux2KleinPipeline(
        transformer=seeded(seed, 0, lambda: _transformer(guidance_embeds=False)),
        vae=seeded(seed, 1, _vae),
        text_encoder=seeded(seed, 2, lambda: _qwen3(len(tokenizer))),
        tokenizer=tokenizer,
        scheduler=_scheduler(),
        is_distilled=False,
    )


#: Pixtral's special tokens, which its processor looks up by name, then Mistral's bos / eos / pad.
_PIXTRAL_SPECIALS = ("<unk>", "<s>", "</s>", "<pad>", "[IMG]", "[IMG_BREAK]", "[IMG_END]")

#: A minimal chat template for FLUX.2-dev's messages: a system and a user turn, each a list of parts.
_MISTRAL_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}[{{ message['role'] }}]{{ part['text'] }}{% endif %}{% endfor %}{% endfor %}"
)


def _pixtral_processor():
    """A Pixtral processor over a byte-level BPE with no merges (one token per byte); no Hub download.

    Ids: the 7 specials of `_PIXTRAL_SPECIALS` (``[IMG]`` is 4), then the 256 byte-level characters.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PixtralImageProcessor, PixtralProcessor, PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(_PIXTRAL_SPECIALS)}
    for c in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[c] = len(vocab)
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens(list(_PIXTRAL_SPECIALS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        model_max_length=32768,
    )
    return PixtralProcessor(
        image_processor=PixtralImageProcessor(), tokenizer=tokenizer, chat_template=_MISTRAL_CHAT_TEMPLATE
    )


def _mistral3(vocab_size: int):
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    text = dict(
        model_type="mistral", vocab_size=vocab_size, hidden_size=_TEXT_DIM, intermediate_size=32,
        num_hidden_layers=31,  # dev reads hidden states 10, 20 and 30 (of 40 in Mistral-Small-3.1)
        num_attention_heads=2, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
        bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )
    vision = dict(
        model_type="pixtral", hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        head_dim=8, image_size=32, patch_size=16, num_channels=3,
    )
    return Mistral3ForConditionalGeneration(Mistral3Config(text_config=text, vision_config=vision, image_token_index=4))


def build_flux2_dev_pipeline(seed: int) -> Flux2Pipeline:
    """The tiny FLUX.2-dev pipeline; weights depend only on ``seed``.

    FLUX.2-dev is guidance-distilled: the transformer embeds ``guidance``, one call per step.
    """
    from diffusers import Flux2Pipeline

    processor = _pixtral_processor()
    return Flux2Pipeline(
        transformer=seeded(seed, 0, lambda: _transformer(guidance_embeds=True)),
        vae=seeded(seed, 1, _vae),
        text_encoder=seeded(seed, 2, lambda: _mistral3(len(processor.tokenizer))),
        tokenizer=processor,
        scheduler=_scheduler(),
    )
