"""The presets cited from the HeadHunter paper (arXiv:2506.10978v4): they load, apply to a meta-device
model of their fingerprint's shape, and carry the figure and label they come from.

The expected heads below are read from the paper (figure labels and text) independently of the preset
files, so a typo in a file, or in the index pin, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import stylehunt
from stylehunt import registry

ROOT = Path(__file__).resolve().parents[1]
SD3_ID = "stabilityai/stable-diffusion-3-medium-diffusers"

# name -> (heads in the figure's order, figure, label)
CITED = {
    "sd3-medium/dark": ([(1, 10)], "Figure 3a", "Dark"),
    "sd3-medium/shearing": ([(11, 15)], "Figure 3a", "Shearing"),
    "sd3-medium/shadow": ([(13, 17)], "Figure 3a", "Shadow"),
    "sd3-medium/blue": ([(0, 23)], "Figure 3a", "Blue"),
    "sd3-medium/dark-shearing": ([(1, 10), (11, 15)], "Figure 3b", "Dark + Shearing"),
    "sd3-medium/shadow-blue": ([(13, 17), (0, 23)], "Figure 3b", "Shadow + Blue"),
    "sd3-medium/red": ([(0, 3)], "Figure 32", "Red"),
    "sd3-medium/horizontal-banding": ([(16, 3)], "Figure 32", "Horizontal banding"),
    "sd3-medium/high-resolution": ([(14, 7)], "Figure 32", "High resolution, fine detailed"),
    "sd3-medium/rainbow-neon": ([(14, 17)], "Figure 32", "Rainbow neon filter"),
    "sd3-medium/red-horizontal-banding": ([(0, 3), (16, 3)], "Figure 34", "Red + Horizontal banding"),
    "sd3-medium/high-resolution-rainbow-neon": (
        [(14, 7), (14, 17)], "Figure 34", "High resolution, fine detailed + Rainbow neon filter"),
    "sd3-medium/blurred-brown-sunlight": ([(0, 4), (13, 18)], "Figure 34", "Blurred brown + Sunlight"),
    "sd3-medium/red-blazing-colors": ([(0, 3), (13, 18)], "Figure 34", "Red + Blazing colors"),
    "sd3-medium/more-white": ([(0, 15), (1, 19)], "Figure 36b", "More white"),
    "sd3-medium/darker": ([(1, 2), (1, 10)], "Figure 36b", "Darker"),
}
# A composition the paper shows that is also the union of two single-head presets.
UNIONS = {
    "sd3-medium/dark-shearing": ("sd3-medium/dark", "sd3-medium/shearing"),
    "sd3-medium/shadow-blue": ("sd3-medium/shadow", "sd3-medium/blue"),
    "sd3-medium/red-horizontal-banding": ("sd3-medium/red", "sd3-medium/horizontal-banding"),
    "sd3-medium/high-resolution-rainbow-neon": ("sd3-medium/high-resolution", "sd3-medium/rainbow-neon"),
}
_SD3_MEDIUM = dict(
    sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64, num_attention_heads=24,
    joint_attention_dim=4096, caption_projection_dim=1536, pooled_projection_dim=2048, out_channels=16,
    pos_embed_max_size=192,
)


@pytest.fixture(scope="module")
def sd3_medium_pipe():
    """StableDiffusion3Pipeline around the real SD3-medium transformer config, built on the meta device."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    with torch.device("meta"):
        transformer = SD3Transformer2DModel(**_SD3_MEDIUM)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=None,
        text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None, text_encoder_3=None, tokenizer_3=None,
    )
    pipe.register_to_config(_name_or_path=SD3_ID)
    return pipe


def test_every_cited_preset_is_in_the_registry_and_reported():
    index = registry.get_index()
    reported = {n for n in index.presets if "paper" in index.presets[n].tags}
    assert reported == set(CITED) | {f"sd3-medium/paper-l{l}h{h}" for l, h in [(1, 10), (13, 17), (0, 23), (11, 15)]}


@pytest.mark.parametrize("name", sorted(CITED))
def test_cited_preset_loads_with_its_figure_label_and_the_papers_settings(name):
    heads, figure, label = CITED[name]
    preset = registry.load_preset(name)
    assert [tuple(h) for h in preset.heads] == heads
    assert preset.model == SD3_ID
    assert preset.provenance["kind"] == "reported"
    assert "arXiv:2506.10978v4" in preset.provenance["source"]
    assert preset.provenance["source"].endswith(f'{figure} (label "{label}")')
    assert preset.metadata["figure"] == figure and preset.metadata["label"] == label
    # Appendix G: 20 Euler steps, w = 5.0 unless stated; PAG identity (u = 1).
    assert preset.scale == 5.0 and preset.strength == 1.0
    assert preset.metadata["settings"]["num_inference_steps"] == 20
    assert preset.fingerprint == registry.model_aliases()["sd3-medium"].fingerprint


@pytest.mark.parametrize("name", sorted(CITED))
def test_cited_preset_applies_to_an_sd3_medium_shaped_model(sd3_medium_pipe, name):
    heads = CITED[name][0]
    stylehunt.apply(sd3_medium_pipe, name)
    try:
        applied = stylehunt.get_applied(sd3_medium_pipe)
        assert applied.scale == 5.0
        perturbed = {tuple(int(i) for i in ix) for ix in torch.nonzero(applied.table).tolist()}
        assert perturbed == set(heads)
    finally:
        stylehunt.remove(sd3_medium_pipe)


@pytest.mark.parametrize("composition", sorted(UNIONS))
def test_two_head_compositions_are_the_union_of_their_single_presets(composition):
    a, b = UNIONS[composition]
    union = [*registry.load_preset(a).heads, *registry.load_preset(b).heads]
    assert sorted(registry.load_preset(composition).heads) == sorted(union)


def test_no_flux_head_is_shipped_and_the_docs_say_why():
    """The paper's FLUX layer numbers (0-56) are not mapped to blocks anywhere in the paper or its code."""
    assert registry.list_presets("flux.1-dev/*") == []
    text = (ROOT / "docs" / "presets.md").read_text()
    assert "FLUX.1-dev heads are not shipped" in text


def test_index_pins_match_the_cited_files():
    import hashlib

    data = json.loads((ROOT / "registry" / "index.json").read_text())["presets"]
    for name in CITED:
        loc = data[name]["versions"]["1.0.0"]
        raw = (ROOT / "presets" / loc["file"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == loc["sha256"], name


def test_list_shows_each_cited_preset_as_reported_with_its_label(capsys):
    from stylehunt.cli import main

    assert main(["list", "sd3-medium/r*", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == ["sd3-medium/rainbow-neon", "sd3-medium/red", "sd3-medium/red-blazing-colors",
                            "sd3-medium/red-horizontal-banding"]
    for name, row in rows.items():
        assert (row["model"], row["kind"], row["label"]) == ("sd3-medium", "reported", CITED[name][2])
