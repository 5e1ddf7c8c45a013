"""LTX-2 (``LTX2VideoTransformer3DModel``): video and audio self-attention, one joint forward for both.

Layers ``0 .. N-1`` are the blocks' video ``attn1``, ``N .. 2N-1`` their audio ``audio_attn1`` (LTX-2:
48 + 48 layers x 32 heads, head dim 128 for video and 64 for audio). The reasons for each field sit beside it.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

_RESCALE = "LTX-2's rescale of its combined prediction is not affine, so the guidance term would be rescaled too"

ADAPTER = Adapter(
    name="ltx2",
    min_diffusers="0.38",  # LTX2VideoTransformer3DModel takes `perturbed_attn` from diffusers 0.38
    transformer_classes=("LTX2VideoTransformer3DModel",),
    pipeline_classes=("LTX2Pipeline",),
    # Each block holds a video self-attention attn1 and an audio self-attention audio_attn1; both are
    # addressable, as two layer groups. The text cross-attentions (attn2, audio_attn2) and the audio-video
    # cross-attentions have no diagonal to perturb. No text enters the self-attentions, so the joint and
    # image identities coincide. No shared prefix (block_rows empty): a block's rotary embeddings and
    # modulation carry the batch.
    layer_groups=(
        LayerGroup("transformer_blocks", "attn1", "image"),
        LayerGroup("transformer_blocks", "audio_attn1", "image"),
    ),
    batched=(
        "hidden_states", "audio_hidden_states", "encoder_hidden_states", "audio_encoder_hidden_states",
        "timestep", "audio_timestep", "sigma", "audio_sigma", "encoder_attention_mask",
        "audio_encoder_attention_mask", "video_coords", "audio_coords", "perturbation_mask",
        "video_self_attention_mask", "video_keyframes_mask",
    ),
    # the pipelines run CFG as one batched call [uncond, cond], then their own STG pass and modality-isolation
    # pass (conditional rows only), and combine the predictions in x0 space with weights that sum to 1:
    # affine, so the term is added to every call's output
    cfg="uncond_first",
    # the transformer returns (video, audio): the guidance term is formed and added on both
    extra_outputs=("audio_sample",),
    # where the config sets perturbed_attn (LTX-2.3), a preset of whole blocks runs through the model's own mask
    native_mask=("perturbation_mask", "spatio_temporal_guidance_blocks", "perturbed_attn"),
    # guidance_rescale (a std ratio, on by default at 0.7) is not affine: a guided call with it set is
    # refused, and the CLI and the search pass 0 (call_args)
    refuse_if_nonzero=(("guidance_rescale", _RESCALE), ("audio_guidance_rescale", _RESCALE)),
    # the audio CFG scale (default 7) follows --guidance-scale when not given
    call_args=(("guidance_rescale", 0.0), ("audio_guidance_rescale", 0.0), ("audio_guidance_scale", None)),
    encode_returns=("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask"),
    input_embedder="proj_in",
)
