"""The parts every tiny pipeline shares: in-memory tokenizers, text encoders, the VAE, seeding.

Nothing here needs the Hub: the tokenizers carry a character vocabulary built in code, and every
model is built from a small config. torch, diffusers and transformers are imported inside the
functions, so importing this module is cheap.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = [
    "CLIP_HIDDEN",
    "clip_tokenizer",
    "t5_tokenizer",
    "qwen2_tokenizer",
    "clip_config",
    "t5_encoder",
    "vae",
    "seeded",
]

#: Hidden size of each tiny CLIP text encoder (SD3 has two of them, FLUX one).
CLIP_HIDDEN = 32
_CLIP_MAX_LENGTH = 77  # the real CLIP context; the pipelines pad every prompt to it


# --------------------------------------------------------------------------------------------------
# Tokenizers (in memory, no Hub)
# --------------------------------------------------------------------------------------------------


def clip_tokenizer():
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


def t5_tokenizer():
    """A T5 (unigram) tokenizer over printable ASCII characters. Ids: 0 pad, 1 eos, 2 unk, 3 ``▁``."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(chr(i), -3.0) for i in range(0x21, 0x7F)]  # printable ASCII without space
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


#: A minimal Qwen chat template: the pipelines that apply one (Z-Image) need only the user turn and
#: the generation prompt; extra template variables (Z-Image's ``enable_thinking``) are ignored.
_QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen2_tokenizer():
    """A Qwen2 byte-level BPE tokenizer with no merges (one token per byte) and a minimal chat template.

    Ids: the 256 byte-level characters, then ``<|endoftext|>`` (pad), ``<|im_start|>``,
    ``<|im_end|>`` (eos): 259 tokens. Qwen2 adds no bos/eos around a text.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import Qwen2TokenizerFast

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    bpe = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(chars)}, merges=[]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    return Qwen2TokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=_QWEN_CHAT_TEMPLATE,
        model_max_length=32768,
    )


# --------------------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------------------


def clip_config(vocab_size: int):
    """The config of one tiny CLIP text encoder (with or without projection: the caller picks the class)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=CLIP_HIDDEN,
        intermediate_size=64,
        projection_dim=CLIP_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=_CLIP_MAX_LENGTH,
        hidden_act="quick_gelu",
        # eos must be the tokenizer's <|endoftext|> id: the pooled output is taken at eos.
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )


def t5_encoder(vocab_size: int, d_model: int):
    """A tiny T5 v1.1 encoder of width ``d_model`` (the transformer's ``joint_attention_dim``)."""
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


def vae(latent_channels: int, scaling_factor: float, shift_factor: float):
    """A 4-block ``AutoencoderKL``, so ``vae_scale_factor`` is the real 8; the family sets its constants."""
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


def seeded(seed: int, index: int, make: Callable[[], Any]) -> Any:
    """Build one component with the torch RNG seeded from ``(seed, index)``.

    Each component gets its own seed, so its weights do not depend on how many random numbers the
    components built before it consumed.
    """
    import torch

    torch.manual_seed(seed * 1000 + index)
    return make()
