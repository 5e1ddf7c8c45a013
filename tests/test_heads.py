"""Head grids of real-size architectures, built on the meta device (no memory, no weights)."""

from __future__ import annotations

import pytest
import torch
from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

import stylehunt
from stylehunt.engine.heads import attention_modules

# The public transformer/config.json values of the released checkpoints.
SD3_MEDIUM = dict(
    sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64, num_attention_heads=24,
    joint_attention_dim=4096, caption_projection_dim=1536, pooled_projection_dim=2048, out_channels=16,
    pos_embed_max_size=192,
)
SD35_MEDIUM = {**SD3_MEDIUM, "pos_embed_max_size": 384, "dual_attention_layers": tuple(range(13)), "qk_norm": "rms_norm"}
SD35_LARGE = {**SD3_MEDIUM, "num_layers": 38, "num_attention_heads": 38, "caption_projection_dim": 2432, "qk_norm": "rms_norm"}
FLUX_DEV = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56),
)


def meta(cls, config):
    with torch.device("meta"):
        return cls(**config)


@pytest.fixture(scope="module")
def sd3_medium():
    return meta(SD3Transformer2DModel, SD3_MEDIUM)


def test_sd3_medium_is_24_by_24(sd3_medium):
    grid = stylehunt.head_grid(sd3_medium)
    assert grid.num_layers == 24 and grid.heads_per_layer == (24,) * 24 and grid.num_heads == 576
    assert grid.head_dim == 64
    assert grid.layers[23].module_name == "transformer_blocks.23.attn"
    assert {layer.kind for layer in grid.layers} == {"image_text"}
    assert (0, 23) in grid and (23, 23) in grid and (24, 0) not in grid and (0, 24) not in grid


def test_sd35_medium_addresses_attn2_after_the_joint_layers():
    t = meta(SD3Transformer2DModel, SD35_MEDIUM)
    grid = stylehunt.head_grid(t)
    assert grid.num_layers == 24 + 13 and grid.num_heads == 37 * 24
    assert [l.module_name for l in grid.layers[24:26]] == ["transformer_blocks.0.attn2", "transformer_blocks.1.attn2"]
    assert grid.layers[36].module_name == "transformer_blocks.12.attn2" and grid.layers[36].kind == "image"
    modules = attention_modules(t)
    assert modules[24] is t.transformer_blocks[0].attn2 and modules[5] is t.transformer_blocks[5].attn


def test_sd35_large_is_38_by_38():
    grid = stylehunt.head_grid(meta(SD3Transformer2DModel, SD35_LARGE))
    assert grid.num_layers == 38 and set(grid.heads_per_layer) == {38} and grid.head_dim == 64


def test_flux_dev_is_57_by_24_double_blocks_first():
    t = meta(FluxTransformer2DModel, FLUX_DEV)
    grid = stylehunt.head_grid(t)
    assert grid.num_layers == 57 and set(grid.heads_per_layer) == {24} and grid.head_dim == 128
    assert grid.layers[18].module_name == "transformer_blocks.18.attn"
    assert grid.layers[19].module_name == "single_transformer_blocks.0.attn"
    assert grid.layers[56].module_name == "single_transformer_blocks.37.attn"
    assert attention_modules(t)[19] is t.single_transformer_blocks[0].attn


def test_fingerprints_tell_architectures_apart(sd3_medium):
    sd3 = stylehunt.head_grid(sd3_medium).fingerprint()
    sd35 = stylehunt.head_grid(meta(SD3Transformer2DModel, SD35_MEDIUM)).fingerprint()
    assert sd3 == stylehunt.head_grid(meta(SD3Transformer2DModel, SD3_MEDIUM)).fingerprint()
    assert sd3 != sd35
    assert sd3 == {
        "transformer_class": "SD3Transformer2DModel",
        "num_layers": 24,
        "heads_per_layer": 24,
        "head_dim": 64,
        "layer_kinds": [["image_text", 24]],
    }
    assert sd35["layer_kinds"] == [["image_text", 24], ["image", 13]]


def test_check_names_the_bad_value_and_the_valid_range(sd3_medium):
    grid = stylehunt.head_grid(sd3_medium)
    with pytest.raises(stylehunt.HeadOutOfRangeError, match=r"heads\[3\]: head 40 out of range for 24 heads in layer 5"):
        grid.check((5, 40), where="heads[3]")
    with pytest.raises(stylehunt.HeadOutOfRangeError, match=r"layer 30 out of range .* 24 attention layers \(valid: 0-23\)"):
        grid.check((30, 0))


def test_grid_iterates_every_address_once(sd3_medium):
    grid = stylehunt.head_grid(sd3_medium)
    addresses = list(grid)
    assert len(addresses) == len(set(addresses)) == 576 and addresses[:2] == [(0, 0), (0, 1)]
    assert "24 attention layers, 576 heads" in grid.format()


# Flagship grids per family, one row each: (transformer class, public config, layers, heads, head dim,
# first layer of the second group and its module). Chroma1-HD: lodestones/Chroma1-HD transformer/config.json
# (the ChromaTransformer2DModel defaults in diffusers 0.42.1 are that checkpoint's).
CHROMA1_HD = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, axes_dims_rope=(16, 56, 56), approximator_num_channels=64,
    approximator_hidden_dim=5120, approximator_layers=5,
)
# Qwen-Image: Qwen/Qwen-Image transformer/config.json (the QwenImageTransformer2DModel defaults in diffusers
# 0.42.1 are that checkpoint's); one group of 60 double-stream blocks, so the row names its last layer.
QWEN_IMAGE = dict(
    patch_size=2, in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56),
)
# Z-Image-Turbo: Tongyi-MAI/Z-Image-Turbo transformer/config.json; only its 30 main layers are addressable (the 2 + 2
# refiner blocks are not), so the row names the last main layer.
ZIMAGE_TURBO = dict(
    all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=3840, n_layers=30, n_refiner_layers=2, n_heads=30,
    n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560, rope_theta=256.0, t_scale=1000.0,
    axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512],
)
# FLUX.2: the transformer configs of diffusers' scripts/convert_flux2_to_diffusers.py (flux2-dev, klein-4b, klein-9b).
FLUX2_DEV = dict(
    patch_size=1, in_channels=128, num_layers=8, num_single_layers=48, attention_head_dim=128, num_attention_heads=48,
    joint_attention_dim=15360, timestep_guidance_channels=256, mlp_ratio=3.0, axes_dims_rope=(32, 32, 32, 32),
    rope_theta=2000, eps=1e-6,
)
FLUX2_KLEIN_4B = dict(FLUX2_DEV, num_layers=5, num_single_layers=20, num_attention_heads=24, joint_attention_dim=7680,
                      guidance_embeds=False)
FLUX2_KLEIN_9B = dict(FLUX2_DEV, num_layers=8, num_single_layers=24, num_attention_heads=32, joint_attention_dim=12288,
                      guidance_embeds=False)
# Wan: the transformer configs of diffusers' scripts/convert_wan_to_diffusers.py. Only the video self-attention
# `blocks.{i}.attn1` is addressable (one group), so the rows name the last layer. Wan2.2-T2V-A14B's two experts each
# have Wan2.1-T2V-14B's config.
WAN21_T2V_14B = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, added_kv_proj_dim=None,
)
WAN21_T2V_1_3B = dict(WAN21_T2V_14B, num_attention_heads=12, ffn_dim=8960, num_layers=30)
WAN22_TI2V_5B = dict(WAN21_T2V_14B, num_attention_heads=24, ffn_dim=14336, num_layers=30, in_channels=48, out_channels=48)
FLAGSHIPS = [
    ("ChromaTransformer2DModel", CHROMA1_HD, 19 + 38, 24, 128, (19, "single_transformer_blocks.0.attn"), "chroma"),
    ("ZImageTransformer2DModel", ZIMAGE_TURBO, 30, 30, 128, (29, "layers.29.attention"), "zimage"),
    ("QwenImageTransformer2DModel", QWEN_IMAGE, 60, 24, 128, (59, "transformer_blocks.59.attn"), "qwenimage"),
    ("Flux2Transformer2DModel", FLUX2_KLEIN_4B, 5 + 20, 24, 128, (5, "single_transformer_blocks.0.attn"), "flux2"),
    ("Flux2Transformer2DModel", FLUX2_KLEIN_9B, 8 + 24, 32, 128, (8, "single_transformer_blocks.0.attn"), "flux2"),
    ("Flux2Transformer2DModel", FLUX2_DEV, 8 + 48, 48, 128, (8, "single_transformer_blocks.0.attn"), "flux2"),
    ("WanTransformer3DModel", WAN21_T2V_1_3B, 30, 12, 128, (29, "blocks.29.attn1"), "wan"),
    ("WanTransformer3DModel", WAN21_T2V_14B, 40, 40, 128, (39, "blocks.39.attn1"), "wan"),
    ("WanTransformer3DModel", WAN22_TI2V_5B, 30, 24, 128, (29, "blocks.29.attn1"), "wan"),
]


@pytest.mark.parametrize("cls_name,config,layers,heads,head_dim,second,family", FLAGSHIPS, ids=[f"{r[-1]}-{r[2]}x{r[3]}" for r in FLAGSHIPS])
def test_flagship_grids_on_meta(cls_name, config, layers, heads, head_dim, second, family):
    import diffusers

    t = meta(getattr(diffusers, cls_name), config)
    grid = stylehunt.head_grid(t)
    assert grid.num_layers == layers and set(grid.heads_per_layer) == {heads} and grid.head_dim == head_dim
    assert grid.layers[second[0]].module_name == second[1]
    assert attention_modules(t)[second[0]] is grid_module(t, second[1])
    fp = grid.fingerprint()
    assert fp["family"] == family and fp["num_layers"] == layers


def grid_module(transformer, dotted):
    return transformer.get_submodule(dotted)
