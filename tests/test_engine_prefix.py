"""The shared prefix (stylehunt.engine.prefix): a perturbed row is computed only from its first
perturbed block on, with the same result as computing it through every block, for every family.

Each family runs with CFG on and off, a preset whose earliest head is in a late block, and a
per-row table whose rows join at different blocks (one never joins); the block-rows left out are
counted exactly."""

from __future__ import annotations

import pytest
import torch
from diffusers import DiffusionPipeline

import stylehunt
from stylehunt.engine.prefix import execution_blocks
from stylehunt.engine.families import adapter_for_pipeline
from tests.test_engine import FAMILY_CASES, FamilyCase, for_video

STEPS = 2
PROMPTS = ["a lighthouse at dusk", "a bowl of fruit"]  # x 2 images each: 4 conditional rows

CASES = [
    FamilyCase("sd3", "tiny_sd3_path", (), cfg={"guidance_scale": 3.0}, no_cfg={"guidance_scale": 1.0}),
    FamilyCase("sd3.5", "tiny_sd35_path", (), cfg={"guidance_scale": 3.0}, no_cfg={"guidance_scale": 1.0}),
    FamilyCase(
        "flux", "tiny_flux_path", (),
        cfg={"true_cfg_scale": 2.0, "negative_prompt": ["blurry", "dark"], "guidance_scale": 3.5},
        no_cfg={"guidance_scale": 3.5},
    ),
    *FAMILY_CASES,
]


@pytest.fixture(scope="module", params=CASES, ids=[c.label or c.name for c in CASES])
def family(request):
    pipe = DiffusionPipeline.from_pretrained(request.getfixturevalue(request.param.fixture))
    pipe.set_progress_bar_config(disable=True)
    pipe.transformer.register_to_config(**request.param.transformer_config)
    yield request.param, pipe
    stylehunt.remove(pipe)


def run(case, pipe, cfg, **kwargs):
    kwargs = {"num_inference_steps": STEPS, "height": 64, "width": 64, "num_images_per_prompt": 2, **case.extra,
              **(case.cfg if cfg else case.no_cfg), **kwargs}
    kwargs = for_video(pipe, kwargs)
    # a fresh list: Z-Image's pipelines rewrite a prompt list in place (diffusers 0.42.1)
    out = pipe(prompt=list(PROMPTS), generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs)
    return out.frames if hasattr(out, "frames") else out.images


def guided(case, pipe, cfg, table, share_prefix):
    stylehunt.engine.apply_table(pipe, table, scale=2.5, share_prefix=share_prefix)
    try:
        return run(case, pipe, cfg), stylehunt.engine.skipped_block_rows(pipe)
    finally:
        stylehunt.remove(pipe)


def blocks_of(pipe):
    return execution_blocks(pipe.transformer, adapter_for_pipeline(pipe))


@pytest.mark.parametrize("cfg", [True, False], ids=["cfg", "no-cfg"])
def test_rows_joining_at_different_blocks_match_the_full_computation(family, cfg):
    case, pipe = family
    grid = stylehunt.head_grid(pipe)
    blocks, layer_block = blocks_of(pipe)
    last = grid.num_layers - 1
    table = torch.zeros(4, grid.num_layers, max(grid.heads_per_layer))
    table[0, last, 0] = 1.0  # joins at the last layer's block
    table[1, 0, 1] = 0.6  # joins at block 0
    table[1, last, 1] = 0.9  # (and has a head later too)
    # row 2 has no perturbed head: it never joins, and its guidance term is exactly 0
    table[3, layer_block.index(len(blocks) // 2) if len(blocks) > 2 else 1, 0] = 0.8  # joins in the middle
    ours, skipped = guided(case, pipe, cfg, table, share_prefix=True)
    full, none_skipped = guided(case, pipe, cfg, table, share_prefix=False)
    plain = run(case, pipe, cfg)
    assert none_skipped == 0.0
    # per guided step: rows 0 and 3 skip the blocks before their joins, row 2 skips every block
    per_step = layer_block[last] + len(blocks) + layer_block[int(torch.nonzero(table[3].amax(1))[0])]
    assert skipped == pytest.approx(STEPS * per_step / len(blocks))
    torch.testing.assert_close(ours, full, rtol=1e-4, atol=2e-5)
    assert not torch.allclose(ours[:2], plain[:2], atol=1e-3)
    torch.testing.assert_close(ours[2], plain[2], rtol=1e-4, atol=2e-5)  # no heads: delta 0


def test_a_late_preset_skips_the_prefix_and_is_exact(family):
    case, pipe = family
    grid = stylehunt.head_grid(pipe)
    blocks, layer_block = blocks_of(pipe)
    late = stylehunt.Preset(heads=[(grid.num_layers - 1, 0), (grid.num_layers - 1, 1)], strength=0.9)
    table = stylehunt.engine.strength_table(grid, [late], [0.9])
    ours, skipped = guided(case, pipe, True, table, share_prefix=True)
    full, _ = guided(case, pipe, True, table, share_prefix=False)
    assert skipped == pytest.approx(STEPS * 2 * len(PROMPTS) * layer_block[-1] / len(blocks))
    torch.testing.assert_close(ours, full, rtol=1e-4, atol=2e-5)
    stylehunt.apply(pipe, late)
    stylehunt.remove(pipe)
    block = blocks[0].module
    assert "forward" not in vars(block)  # the fork's wrappers go with remove


def test_identical_rows_are_computed_once_and_match_their_rows_alone(family):
    """Rows with identical inputs (the search's candidates of one prompt-seed pair at the first step) run
    once: the transformer sees 2 distinct rows + 3 perturbed at step 1, and each row equals its call alone."""
    case, pipe = family
    grid = stylehunt.head_grid(pipe)
    table = torch.zeros(3, grid.num_layers, max(grid.heads_per_layer))
    table[0, 0, 0] = 1.0
    table[1, grid.num_layers - 1, 1] = 0.7
    table[2, 0, 1] = 0.5
    prompts, seeds = ["a lighthouse", "a lighthouse", "a bowl"], [5, 5, 6]
    adapter = adapter_for_pipeline(pipe)
    counted = []
    hooks = [getattr(t, adapter.input_embedder).register_forward_pre_hook(
        lambda m, a, kw: counted.append(int((a[0] if a else next(iter(kw.values()))).shape[0])), with_kwargs=True)
        for t in (getattr(pipe, name, None) for name in adapter.denoisers) if t is not None]  # Wan 2.2: both experts
    call = for_video(pipe, {"num_inference_steps": STEPS, "height": 64, "width": 64, **case.extra, **case.no_cfg})

    def generate(rows):
        out = pipe(prompt=[prompts[i] for i in rows], generator=[torch.Generator().manual_seed(seeds[i]) for i in rows],
                   output_type="latent", **call)
        return out.frames if hasattr(out, "frames") else out.images

    try:
        stylehunt.engine.apply_table(pipe, table, scale=2.5, share_prefix=False)
        try:
            unshared = generate([0, 1, 2])
        finally:
            stylehunt.remove(pipe)
        assert counted == [3 + 3] * STEPS  # as before the shared prefix: every row, every step
        counted.clear()
        stylehunt.engine.apply_table(pipe, table, scale=2.5)
        try:
            together = generate([0, 1, 2])
        finally:
            stylehunt.remove(pipe)
    finally:
        for hook in hooks:
            hook.remove()
    assert counted[0] == 2 + 3 and counted[1:] == [3 + 3] * (STEPS - 1)
    torch.testing.assert_close(together, unshared, rtol=1e-4, atol=2e-5)
    for i in range(3):
        stylehunt.engine.apply_table(pipe, table[i : i + 1], scale=2.5)
        try:
            alone = generate([i])
        finally:
            stylehunt.remove(pipe)
        torch.testing.assert_close(together[i : i + 1], alone, rtol=1e-4, atol=2e-5)
    assert not torch.allclose(together[0], together[1], atol=1e-4)  # same inputs, different head sets
