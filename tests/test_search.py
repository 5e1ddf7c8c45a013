"""The head search on the tiny random-weight SD3 (2 layers x 4 heads), 64 px, 2 steps, brightness.

Covers: row independence from batch neighbours, determinism, the exhaustive strategy against a
greedy recomputed by hand from the recorded scores, the screened strategy's screening / re-rank /
pruning rules, the run folder, resume refusals, bad input (raised before any image), the CLI and
the atlas.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from PIL import Image

import stylehunt
from stylehunt.engine.families import adapter_for_pipeline
from stylehunt.errors import (
    ObjectiveError,
    ResumeMismatchError,
    ScorerUnavailableError,
    SearchConfigError,
)
from stylehunt.headhunter import SearchSettings, search
from stylehunt.headhunter.atlas import render_atlas
from stylehunt.headhunter.sampler import Sampler
from stylehunt.headhunter.settings import makes_video

PROMPTS = ["a red house", "a small dog"]
HELDOUT = ["a tree by a lake"]
FAST = dict(steps=2, height=64, width=64, batch_size=4, model_id="tiny-sd3")


@pytest.fixture(scope="module")
def pipe(tiny_sd3_path):
    p = DiffusionPipeline.from_pretrained(tiny_sd3_path)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def exhaustive(pipe):
    """rounds=2, k=2 over all 8 heads: round 1 scores 8 candidates, round 2 the other 6."""
    return search(pipe, "brightness", PROMPTS, rounds=2, per_round=2, **FAST)


@pytest.fixture
def no_generation(monkeypatch):
    """Make any image generation fail loudly: bad input must be refused before it."""

    def boom(*args, **kwargs):
        raise AssertionError("an image was generated before the bad input was refused")

    monkeypatch.setattr(Sampler, "generate", boom)


# --- rows do not depend on their batch neighbours --------------------------------------------------


def test_a_candidate_scores_the_same_whatever_its_batch_neighbours(pipe):
    from stylehunt.objectives import build_objective

    grid = stylehunt.head_grid(pipe)
    settings = SearchSettings(steps=2, height=64, width=64).resolved(2, 64, 64)
    target, pair = ((0, 1),), (PROMPTS[0], 0)
    brightness = build_objective("brightness")
    with Sampler(pipe, grid, settings) as sampler:
        alone = sampler.generate([target], [pair], 2)[0]
        mixed = sampler.generate([((1, 3), (0, 2)), target, ()], [(PROMPTS[1], 1), pair, (PROMPTS[0], 5)], 2)[1]
        last = sampler.generate([((0, 0),), ((1, 2),), ((1, 1),), target], [pair, pair, (PROMPTS[1], 1), pair], 2)[3]
        unguided = sampler.generate([()], [pair], 2)[0]
    a, b, c = (np.asarray(im, dtype=np.int16) for im in (alone, mixed, last))
    assert np.abs(a - b).max() <= 2 and np.abs(a - c).max() <= 2  # float noise: at most 2/255 on a few pixels
    scores = brightness([alone, mixed, last], [PROMPTS[0]] * 3)
    assert torch.allclose(scores, scores[0].expand(3), atol=1e-5)
    # ... and the guidance did change the image, so the comparison above is not vacuous
    assert np.abs(a - np.asarray(unguided, dtype=np.int16)).max() > 10


def test_prompts_of_other_lengths_are_padded_and_masked(tiny_qwenimage_path):
    """Qwen-Image encodes each prompt to its own length, with no mask when no token is padding. Next to a
    longer prompt, a prompt's embeddings are padded with zeros that its mask hides, so the transformer
    computes what it computes for the prompt alone (and would not without the mask). CFG on: the negative
    (empty) prompts are of one length and go unmasked."""
    pipe = DiffusionPipeline.from_pretrained(tiny_qwenimage_path)
    settings = SearchSettings(steps=1, height=64, width=64, cfg_scale=2.0).resolved(2, 64, 64)
    calls = []
    handle = pipe.transformer.register_forward_pre_hook(lambda m, args, kwargs: calls.append(kwargs), with_kwargs=True)
    try:
        with Sampler(pipe, stylehunt.head_grid(pipe), settings) as sampler:
            sampler.generate([()], [("a red house", 0)], 1)
            sampler.generate([(), ()], [("a small dog asleep on a sunny porch", 1), ("a red house", 0)], 1)
    finally:
        handle.remove()
    alone, _, mixed, mixed_negative = calls
    assert mixed["encoder_hidden_states"].shape[1] > alone["encoder_hidden_states"].shape[1]
    assert alone["encoder_hidden_states_mask"] is None and mixed_negative["encoder_hidden_states_mask"] is None
    assert mixed["encoder_hidden_states_mask"][1].sum() == alone["encoder_hidden_states"].shape[1]
    with torch.no_grad():
        expected = pipe.transformer(**{**alone, "return_dict": False})[0][0]
        padded = pipe.transformer(**{**mixed, "return_dict": False})[0][1]
        unmasked = pipe.transformer(**{**mixed, "encoder_hidden_states_mask": None, "return_dict": False})[0][1]
    torch.testing.assert_close(padded, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked, expected, atol=1e-3)


# --- exhaustive = the paper's greedy; determinism ----------------------------------------------------


def test_exhaustive_equals_a_greedy_recomputed_from_the_recorded_scores(pipe, exhaustive):
    pool = list(stylehunt.head_grid(pipe))
    selected: list = []
    for r in exhaustive.rounds:
        # every head still in the pool was re-scored with the chosen set included
        assert sorted(r.candidates) == sorted(set(pool) - set(selected))
        assert r.screened == {}
        by_hand = sorted(r.candidates, key=lambda c: (-r.candidates[c], c))[:2]
        assert list(r.added) == by_hand
        selected += by_hand
        assert r.heads == tuple(selected)
    assert exhaustive.heads == tuple(selected)
    assert len(set(selected)) == 4


def test_same_settings_and_seeds_give_the_same_heads_and_scores(pipe, exhaustive):
    again = search(pipe, "brightness", PROMPTS, rounds=2, per_round=2, **FAST)
    assert again.heads == exhaustive.heads
    assert [r.candidates for r in again.rounds] == [r.candidates for r in exhaustive.rounds]
    assert again.baseline == exhaustive.baseline
    assert again.forward_rows == exhaustive.forward_rows


def guided_rows(sets: int, m: int, steps: int, main: int, extra: int = 0, batch: int = FAST["batch_size"]) -> int:
    """Forward rows of a guided phase: per image and step, ``main`` rows in the main call (2 with batched
    CFG), ``extra`` in a second call (separate CFG) and 1 perturbed. Jobs are cut pair-major into units
    of ``batch``; at the first step, a unit's images of one prompt-seed pair share their main-call rows."""
    jobs = [(s, p) for p in range(m) for s in range(sets)]
    total = 0
    for i in range(0, len(jobs), batch):
        unit = jobs[i : i + batch]
        total += steps * len(unit) * (main + extra + 1) - (len(unit) - len({p for _, p in unit})) * main
    return total


def test_forward_rows_are_counted_per_stage(exhaustive):
    # no CFG: an unguided image is 1 row per step; a guided one 2 (its perturbed copy), less the first
    # step's conditional rows shared by the candidates of one prompt-seed pair in a unit
    m, steps = len(PROMPTS), FAST["steps"]
    assert exhaustive.forward_rows["baseline"] == m * steps
    assert exhaustive.forward_rows["full"] == guided_rows(8, m, steps, 1) + guided_rows(6, m, steps, 1)
    assert guided_rows(8, m, steps, 1) == 8 * m * steps * 2 - 4 * 3  # 4 units of 4 candidates x 1 pair: 3 shared each
    assert exhaustive.forward_rows["set"] == 2 * m * steps * 2
    # block-rows: perturbed rows run only from their head's block on (tiny SD3: 2 blocks, one head each)
    assert exhaustive.block_rows["baseline"] == exhaustive.forward_rows["baseline"]
    assert 0 < exhaustive.block_rows["full"] < exhaustive.forward_rows["full"]


@pytest.mark.parametrize("family, cfg",
                         [("flux", None), ("flux", 2.0), ("sd3", 2.0), ("chroma", None), ("chroma", 2.0),
                          ("zimage", None), ("zimage", 2.0), ("qwenimage", None), ("qwenimage", 2.0),
                          ("flux2", None), ("flux2", 2.0), ("wan", None), ("wan", 2.0)])
def test_rows_per_image_and_step_with_and_without_cfg(family, cfg, pipe, request):
    """Unguided: 1 row (2 with CFG); guided: +1 perturbed row. FLUX's true CFG and Chroma's CFG: a second call per step.
    Wan 2.2's two experts each run one of the 2 steps: both count, and both are guided."""
    p = pipe
    if family != "sd3":
        p = DiffusionPipeline.from_pretrained(request.getfixturevalue(f"tiny_{family}_path"))
    video = {"frames": 5} if makes_video(p) else {}  # 2 latent frames (Wan's default is 81)
    result = search(p, "warmth", PROMPTS, rounds=1, per_round=1, layers="0", cfg_scale=cfg,
                    **{**FAST, "model_id": f"tiny-{family}"}, **video)
    heads_in_layer0 = len(result.rounds[0].candidates)
    plain = 2 if cfg else 1
    batched = adapter_for_pipeline(p).cfg in ("uncond_first", "cond_first")
    main, extra = (plain, 0) if batched else (1, plain - 1)
    image_steps = len(PROMPTS) * FAST["steps"]
    assert result.forward_rows == {
        "baseline": plain * image_steps,
        "full": guided_rows(heads_in_layer0, len(PROMPTS), FAST["steps"], main, extra),
        "set": (plain + 1) * image_steps,
    }


def test_a_guidance_distilled_pipeline_gets_its_guidance_and_no_negative_prompt(tiny_flux2_dev_path):
    """FLUX.2-dev shares its family's adapter with klein, whose CFG is a second call against the empty prompt;
    dev takes no negative prompt: the search's CFG scale is its embedded guidance, one call per step."""
    pipe = DiffusionPipeline.from_pretrained(tiny_flux2_dev_path)
    grid = stylehunt.head_grid(pipe)
    for cfg, guidance in ((None, 1.0), (4.0, 4.0)):
        settings = SearchSettings(steps=2, height=64, width=64, cfg_scale=cfg).resolved(2, 64, 64)
        calls = []
        handle = pipe.transformer.register_forward_pre_hook(lambda m, a, kw: calls.append(kw), with_kwargs=True)
        try:
            with Sampler(pipe, grid, settings) as sampler:
                sampler.generate([((0, 1),)], [("a red house", 0)], 2)
        finally:
            handle.remove()
        assert [kw["guidance"].tolist() for kw in calls] == [[guidance]] * 2  # the pipeline's own row, per step
        assert sampler.rows == 2 * 2  # with its perturbed row (a negative prompt would be a TypeError)


def red_share(images, prompts):
    """A plain callable objective: mean share of red in the image."""
    return [float(np.asarray(im, dtype=np.float64)[..., 0].mean() / 255.0) for im in images]


def test_a_plain_callable_objective_is_searched_and_recorded(pipe, tmp_path):
    result = search(pipe, red_share, PROMPTS, rounds=1, per_round=1, layers="1", out=tmp_path / "red", **FAST)
    r = result.rounds[0]
    assert sorted(r.candidates) == [(1, h) for h in range(4)]
    assert r.added == (max(r.candidates, key=lambda c: (r.candidates[c], -c[1])),)
    described = stylehunt.Preset.from_file(tmp_path / "red").provenance["settings"]["objective"]
    assert described["kind"] == "callable" and described["callable"].endswith("red_share")


# --- screened strategy -------------------------------------------------------------------------------


def test_screened_screens_reranks_and_prunes(pipe, capsys):
    result = search(pipe, "brightness", PROMPTS, strategy="screened", rounds=2, per_round=1, rerank=2, keep=3,
                    screen_prompts=1, screen_steps=1, progress=True, **FAST)
    bars = capsys.readouterr().err
    assert "search:" in bars and "round 2/2" in bars and "img" in bars  # overall bar (with ETA) and per-round bar
    r1, r2 = result.rounds
    # round 1: all 8 heads screened, the 2 best re-scored at full settings, the best of those chosen
    assert len(r1.screened) == 8
    screen_order = sorted(r1.screened, key=lambda c: (-r1.screened[c], c))
    assert sorted(r1.candidates) == sorted(screen_order[:2])
    ranked = sorted(r1.candidates, key=lambda c: (-r1.candidates[c], c))
    assert r1.added == (ranked[0],)
    # round 2: only the 3 best-ranked unselected heads survive
    survivors = (ranked[1:] + [c for c in screen_order if c not in r1.candidates])[:3]
    assert sorted(r2.screened) == sorted(survivors)
    assert len(r2.candidates) == 2 and set(r2.candidates) <= set(survivors)
    # with k=1 the round's set is the best candidate's set: two evaluations in different batches agree
    assert r1.score == pytest.approx(r1.candidates[r1.added[0]], abs=1e-5)
    # screening: (8 + 3) candidates x 1 pair x 1 step, 1 step: a perturbed row each, plus one conditional
    # row per unit (the candidates of one pair share it); full: 2 rounds x 2 finalists x 2 pairs x 2 steps x 2
    assert result.forward_rows["screen"] == guided_rows(8, 1, 1, 1) + guided_rows(3, 1, 1, 1) == 8 + 2 + 3 + 1
    assert result.forward_rows["full"] == guided_rows(2, 2, 2, 1) * 2 == (2 * 2 * 2 * 2 - 2) * 2


def test_screened_refills_its_short_list_from_older_rankings(pipe):
    # keep=2 and k=1 over 4 rounds: each later round screens the 2 best-ranked unselected heads,
    # refilled from round 1's screening order once this round's own candidates run out
    result = search(pipe, "brightness", PROMPTS, strategy="screened", rounds=4, per_round=1, rerank=1, keep=2,
                    screen_prompts=1, screen_steps=1, **FAST)
    r1 = result.rounds[0]
    order = sorted(r1.screened, key=lambda c: (-r1.screened[c], c))
    for previous, r in zip(result.rounds, result.rounds[1:]):
        assert len(r.screened) == 2 and len(r.candidates) == 1
        assert not set(r.screened) & set(previous.heads)
    assert len(set(result.heads)) == 4
    # rerank=1: round 1's only finalist is its screening winner; round 2 looks at the next two
    assert r1.added == (order[0],)
    assert set(result.rounds[1].screened) == {order[1], order[2]}
    # a later round had to reach further down round 1's order
    assert any(set(r.screened) - set(order[:3]) for r in result.rounds[2:])


# --- run folder, resume refusals ----------------------------------------------------------------------


def test_run_folder_holds_preset_scores_curve_grid_and_state(pipe, tmp_path):
    out = tmp_path / "golden-hour"
    result = search(pipe, "brightness", PROMPTS, heldout=HELDOUT, rounds=2, per_round=1, out=out, **FAST)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["curve.png", "grid.png", "scores.json", "state.json", "stylehunt_preset.json"]
    preset = stylehunt.Preset.from_file(out)
    assert preset.heads == result.heads and preset.name == "golden-hour" and preset.model == "tiny-sd3"
    assert preset.fingerprint == stylehunt.head_grid(pipe).fingerprint()
    prov = preset.provenance
    assert prov["kind"] == "search" and prov["prompts"] == PROMPTS and prov["seeds"] == [0, 1]
    assert [r["added"] for r in prov["rounds"]] == [[list(a) for a in r.added] for r in result.rounds]
    held = prov["settings"]["heldout"]
    assert held["preset"] == result.heldout_score and held["baseline"] == result.heldout_baseline
    assert held["gain"] == pytest.approx(result.heldout_score - result.heldout_baseline)
    assert prov["settings"]["objective"]["kind"] == "brightness" and prov["settings"]["strategy"] == "exhaustive"
    scores = json.loads((out / "scores.json").read_text())
    assert [len(r["candidates"]) for r in scores["rounds"]] == [8, 7]
    assert scores["rounds"][0]["candidates"][0]["head"] == list(result.rounds[0].added[0])
    state = json.loads((out / "state.json").read_text())
    assert state["status"] == "done" and state["config"]["prompts"]["heldout"] == [[HELDOUT[0], 1000]]
    grid = Image.open(out / "grid.png")
    assert grid.width > 3 * 96 and grid.height > 2 * 96  # 3 columns (none, round 1, round 2) x 2 prompts
    assert Image.open(out / "curve.png").size[0] > 200
    assert list(result.images) == ["no guidance", "round 1", "round 2"]

    # resuming a finished run recomputes nothing and gives the same result
    again = search(pipe, "brightness", PROMPTS, heldout=HELDOUT, rounds=2, per_round=1, out=out, resume=True, **FAST)
    assert again.heads == result.heads and [r.candidates for r in again.rounds] == [r.candidates for r in result.rounds]

    # a different configuration is refused, naming what differs, before any image
    with pytest.raises(ResumeMismatchError, match=r"settings\.steps: run has 2, now 3"):
        search(pipe, "brightness", PROMPTS, heldout=HELDOUT, rounds=2, per_round=1, out=out, resume=True,
               **{**FAST, "steps": 3})
    with pytest.raises(ResumeMismatchError, match=r"model: run has 'tiny-sd3', now 'other/model'"):
        search(pipe, "brightness", PROMPTS, heldout=HELDOUT, rounds=2, per_round=1, out=out, resume=True,
               **{**FAST, "model_id": "other/model"})
    with pytest.raises(SearchConfigError, match="already holds a search"):
        search(pipe, "brightness", PROMPTS, heldout=HELDOUT, rounds=2, per_round=1, out=out, **FAST)


def test_the_run_folder_is_locked_while_the_search_writes_it(pipe, tmp_path):
    """The objective runs mid-search: the folder's lock is held by this process, and a second lock is refused."""
    import os

    from stylehunt.headhunter.runfolder import RunLock, lock_holder
    from stylehunt.objectives import build_objective

    out = tmp_path / "run"
    brightness = build_objective("brightness")
    seen = []

    def objective(images, prompts):
        seen.append(lock_holder(out))
        with pytest.raises(SearchConfigError, match=f"in use by another search \\(pid {os.getpid()}\\)"):
            with RunLock(out):
                pass
        return brightness(images, prompts)

    search(pipe, objective, PROMPTS, rounds=1, per_round=1, out=out, command={"how": "a test"}, **FAST)
    assert seen and set(seen) == {str(os.getpid())}
    assert lock_holder(out) is None and not (out / ".lock").exists()
    assert json.loads((out / "command.json").read_text()) == {"how": "a test"}


def test_a_folder_that_is_not_empty_or_holds_a_run_is_refused_before_anything_is_written(pipe, no_generation, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "grid.png").write_bytes(b"my picture")
    with pytest.raises(SearchConfigError, match=r"holds no stylehunt run \(grid.png\)"):
        search(pipe, "brightness", PROMPTS, rounds=1, per_round=1, out=mine, **FAST)
    assert [p.name for p in mine.iterdir()] == ["grid.png"] and (mine / "grid.png").read_bytes() == b"my picture"
    with pytest.raises(SearchConfigError, match="nothing to resume"):
        search(pipe, "brightness", PROMPTS, rounds=1, per_round=1, out=tmp_path / "none", resume=True, **FAST)
    with pytest.raises(SearchConfigError, match="`command` to be JSON-ready"):
        search(pipe, "brightness", PROMPTS, rounds=1, per_round=1, out=tmp_path / "new", command={"x": object()},
               **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "mine"]


# --- bad input: refused before any image is generated ----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(objective="brightnes"), ObjectiveError, "did you mean 'brightness'"),
        (dict(objective=42), SearchConfigError, "Expected `objective`"),
        (dict(prompts=[]), SearchConfigError, "prompt set is empty"),
        (dict(prompts=["a cat", "  "]), SearchConfigError, r"prompts\[1\]"),
        (dict(per_round=9), SearchConfigError, "k=9 is larger than the pool of 8 heads"),
        (dict(rounds=3, per_round=3), SearchConfigError, "would select 9 heads from a pool of only 8"),
        (dict(layers="1", per_round=5), SearchConfigError, "pool of 4 heads"),
        (dict(layers="0-2"), SearchConfigError, "layer 2 out of range"),
        (dict(pool=[(0, 1), (0, 9)]), stylehunt.HeadOutOfRangeError, r"pool\[1\]: head 9 out of range"),
        (dict(strategy="fast"), SearchConfigError, "Unknown search strategy 'fast'"),
        (dict(seeds=[0]), SearchConfigError, "1 seeds for 2 prompts"),
        (dict(height=60), SearchConfigError, "not a multiple of 8"),
        (dict(screen_steps=3, strategy="screened"), SearchConfigError, "screen_steps"),
        (dict(strategy="screened", rerank=0), SearchConfigError, "rerank"),
        (dict(strength=0.0), SearchConfigError, "strength"),
    ],
)
def test_bad_input_is_refused_before_any_image(pipe, no_generation, kwargs, error, message):
    args = dict(objective="brightness", prompts=PROMPTS, rounds=1, per_round=1, **FAST)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        search(pipe, args.pop("objective"), args.pop("prompts"), **args)


def test_a_scorer_that_cannot_load_offline_fails_before_any_image(pipe, no_generation, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ScorerUnavailableError, match="PickScore"):
        search(pipe, "pickscore", PROMPTS, style="golden hour", rounds=1, per_round=1, **FAST)


def test_a_guided_pipeline_and_a_local_model_without_hub_id_are_refused(pipe, no_generation, tmp_path):
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 1)]))
    try:
        with pytest.raises(SearchConfigError, match="already has stylehunt guidance"):
            search(pipe, "brightness", PROMPTS, rounds=1, per_round=1, **FAST)
    finally:
        stylehunt.remove(pipe)
    with pytest.raises(SearchConfigError, match="Hub id"):
        search(pipe, "brightness", PROMPTS, rounds=1, per_round=1, out=tmp_path / "r",
               **{**FAST, "model_id": None})
    assert not (tmp_path / "r").exists()


# --- CLI and atlas -------------------------------------------------------------------------------------


def _cli(capsys, *args):
    from stylehunt.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_search_resume_and_errors(tiny_sd3_path, tmp_path, capsys, monkeypatch):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red house\na small dog\na tree by a lake\na bowl of fruit\n")
    out = tmp_path / "run"
    base = ["search", "--model", tiny_sd3_path, "--model-id", "tiny-sd3", "--objective", "brightness",
            "--prompts", prompts, "--num-prompts", 2, "--num-heldout", 1, "--rounds", 1, "--per-round", 1,
            "--steps", 2, "--resolution", 64, "--batch-size", 4]
    code, stdout, err = _cli(capsys, *base, "--out", out, "--format", "json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert (out / "command.json").is_file() and (out / "stylehunt_preset.json").is_file()
    assert summary["heads"] == [list(a) for a in stylehunt.Preset.from_file(out).heads]

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the bad input was refused")

    monkeypatch.setattr("stylehunt.models.load_pipeline", no_model)
    code, _, err = _cli(capsys, "search", "--resume", out, "--steps", 3)
    assert code == 1 and "--steps: the run used 2, got 3" in err
    code, _, err = _cli(capsys, *base, "--out", out)
    assert code == 1 and "already holds a search" in err and f"--resume {out}" in err
    table = tmp_path / "prompts.tsv"
    table.write_text("Prompt\tCategory\na red house\tThings\na small dog\tAnimals\na tree\tPlants\n")
    code, _, err = _cli(capsys, *base, "--prompts", table, "--prompt-column", "Text", "--out", tmp_path / "x")
    assert code == 1 and "no column 'Text'" in err and "Prompt, Category" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    code, _, err = _cli(capsys, *base, "--prompts", empty, "--out", tmp_path / "x")
    assert code == 1 and "empty.txt" in err
    code, _, err = _cli(capsys, *base, "--objective", "warmthh", "--out", tmp_path / "x")
    assert code == 1 and "did you mean 'warmth'" in err
    code, _, err = _cli(capsys, *base, "--per-round", 20, "--out", tmp_path / "x")
    assert code == 1 and "larger than the pool of 8 heads" in err
    monkeypatch.undo()

    # --resume alone takes every option from the run
    code, stdout, err = _cli(capsys, "search", "--resume", out, "--format", "json")
    assert code == 0, err
    assert json.loads(stdout)["heads"] == summary["heads"]


def test_atlas_one_row_per_layer_one_column_per_head(pipe, tiny_sd3_path, tmp_path, capsys):
    image = render_atlas(pipe, "a red house", steps=2, height=64, width=64, thumb=32)
    # 2 layers x (unguided + 4 heads) cells of 32 px, labels on top and left
    assert image.height >= 2 * 32 and image.height < 3 * 32 + 30
    assert image.width >= 5 * 32 and image.width < 6 * 32 + 40
    code, stdout, err = _cli(capsys, "atlas", "--model", tiny_sd3_path, "--prompt", "a red house", "--layers", "1",
                             "--steps", 2, "--resolution", 64, "--thumb", 32, "--out", tmp_path / "atlas.png")
    assert code == 0, err
    one_layer = Image.open(tmp_path / "atlas.png")
    assert one_layer.height < image.height and one_layer.width == image.width
    code, _, err = _cli(capsys, "atlas", "--model", tiny_sd3_path, "--prompt", "x", "--layers", "7",
                        "--out", tmp_path / "bad.png")
    assert code == 1 and "layer 7 out of range" in err


@pytest.mark.parametrize("family, layers, heads", [("chroma", 4, 2), ("zimage", 4, 2), ("qwenimage", 2, 4),
                                                      ("flux2", 4, 2)])
def test_cli_search_and_atlas_on_families_the_search_never_names(family, layers, heads, request, tmp_path, capsys):
    """Prompts encoded with their padding masks (Chroma), as per-prompt lists (Z-Image) or to their own lengths,
    padded to a common one (Qwen-Image), CFG off (Chroma, Qwen-Image and FLUX.2-klein at 1, Z-Image at 0), 16 px
    tokens.

    (CFG is a row of test_rows_per_image_and_step_with_and_without_cfg.)
    """
    name = f"tiny-{family}"
    base = ["--model", request.getfixturevalue(f"tiny_{family}_path"), "--steps", 2, "--batch-size", 4]
    code, _, err = _cli(capsys, "search", *base, "--model-id", name, "--objective", "warmth",
                        "--num-prompts", 2, "--num-heldout", 1, "--rounds", 1, "--per-round", 1, "--resolution", 72,
                        "--out", tmp_path / "bad")
    assert code == 2 and "72 is not a multiple of 16" in err and not (tmp_path / "bad").exists()
    out = tmp_path / "run"
    code, stdout, err = _cli(capsys, "search", *base, "--model-id", name, "--objective", "warmth",
                             "--num-prompts", 2, "--num-heldout", 1, "--rounds", 1, "--per-round", 1, "--layers", 0,
                             "--resolution", 64, "--out", out, "--format", "json")
    assert code == 0, err
    preset = stylehunt.Preset.from_file(out)
    assert json.loads(stdout)["heads"] == [list(a) for a in preset.heads] and preset.heads[0][0] == 0
    assert preset.fingerprint["family"] == family and preset.model == name
    # images x steps x rows (2: guided, with its perturbed copy); full: a candidate per head of layer 0 x 2 pairs;
    # held-out: one batch of the unguided image and the round's, so both carry a perturbed row, and they
    # share their first step's conditional row (same prompt and seed)
    assert preset.provenance["settings"]["forward_rows"] == {"baseline": 2 * 2, "full": guided_rows(heads, 2, 2, 1),
                                                             "set": 2 * 2 * 2, "heldout": 2 * 2 * 2 - 1}
    code, _, err = _cli(capsys, "atlas", *base, "--prompt", "a red house", "--resolution", 64, "--thumb", 32,
                        "--out", tmp_path / "atlas.png")
    assert code == 0, err
    image = Image.open(tmp_path / "atlas.png")  # layers x (unguided + heads) cells of 32 px, labels on top and left
    assert layers * 32 <= image.height < (layers + 1) * 32 + 30
    assert (heads + 1) * 32 <= image.width < (heads + 2) * 32 + 40


def test_cli_search_and_atlas_on_tiny_wan(tiny_wan_path, tmp_path, capsys):
    """Video end to end: every sample a 5-frame 32 px video, scored frame by frame; rows counted in both Wan 2.2
    experts; --frames recorded, and refused (naming the flag) where the pipeline would round it; the grid and
    the atlas show each video as a mosaic of its frames."""
    from stylehunt.objectives import build_objective, frame_indices

    base = ["--model", tiny_wan_path, "--steps", 2, "--batch-size", 4, "--resolution", 32]
    args = [*base, "--model-id", "tiny-wan", "--objective", "warmth", "--num-prompts", 2, "--num-heldout", 1,
            "--rounds", 1, "--per-round", 1, "--layers", 0]
    code, _, err = _cli(capsys, "search", *args, "--frames", 6, "--out", tmp_path / "bad")
    assert code == 1 and "--frames 6 is not 1 plus a multiple of 4" in err and "use 5 or 9" in err
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "run"
    code, stdout, err = _cli(capsys, "search", *args, "--frames", 5, "--out", out, "--format", "json")
    assert code == 0, err
    preset = stylehunt.Preset.from_file(out)
    assert json.loads(stdout)["heads"] == [list(a) for a in preset.heads] and preset.heads[0][0] == 0
    assert preset.fingerprint["family"] == "wan" and preset.provenance["settings"]["frames"] == 5
    # 2 videos x 2 steps x 1 row: step 1 runs `transformer`, step 2 `transformer_2`, and both are counted
    assert preset.provenance["settings"]["forward_rows"]["baseline"] == 2 * 2
    # the recorded baseline score of the first pair is the objective's frame mean of that video, made again
    pipe = DiffusionPipeline.from_pretrained(tiny_wan_path)
    settings = SearchSettings(steps=2, height=32, width=32, frames=5).resolved(1, 32, 32)
    with Sampler(pipe, stylehunt.head_grid(pipe), settings) as sampler:
        (video,) = sampler.generate([()], [(preset.provenance["prompts"][0], preset.provenance["seeds"][0])], 2)
    assert len(video) == 5 and video[0].size == (32, 32) and frame_indices(5, 8) == [0, 1, 2, 3, 4]
    warmth = build_objective("warmth")
    state = json.loads((out / "state.json").read_text())
    recorded = state["phases"]["baseline"]["units"]["0"]["scores"][0]
    assert recorded == pytest.approx(float(warmth(video).mean()), abs=2e-3)  # batch-of-2 float noise only
    assert float(warmth([video])[0]) == pytest.approx(float(warmth(video).mean()), abs=1e-7)
    with Image.open(out / "grid.png") as grid:  # 2 pairs x (no guidance, round 1) cells of 96 px, 64 px mosaics
        assert 2 * 64 <= grid.height < 2 * 96 + 30 and 2 * 64 <= grid.width < 2 * 96 + 130
    code, _, err = _cli(capsys, "atlas", *base, "--prompt", "a red house", "--frames", 5, "--layers", 0,
                        "--thumb", 32, "--out", tmp_path / "atlas.png")
    assert code == 0, err
    with Image.open(tmp_path / "atlas.png") as atlas:  # 1 layer x (unguided + 4 heads): 2 x 2 mosaics in 32 px cells
        assert 32 <= atlas.height < 32 + 30 and 5 * 32 <= atlas.width < 6 * 32 + 40


def test_the_preset_records_the_style_text_of_a_built_objective():
    from stylehunt.objectives import build_objective
    from stylehunt.headhunter.outputs import style_of

    info = build_objective("pickscore+0.5*aesthetic", style="sunlit, golden hour").describe()
    assert style_of(info) == "sunlit, golden hour"
    assert style_of(build_objective("warmth").describe()) == ""


# --- the help states the defaults the code uses --------------------------------------------------------


def _help_records(command_name):
    """``{parameter name: its help line as --help prints it, whitespace collapsed}``."""
    import click

    from stylehunt.cli import search_cmds

    command = getattr(search_cmds, command_name)
    ctx = click.Context(command, info_name=command_name)
    records = {p.name: p.get_help_record(ctx) for p in command.params}
    return {name: " ".join(r[1].split()) for name, r in records.items() if r}


def _states_default(text, value):
    import re

    return re.search(rf"\[default: {re.escape(str(value))}[;\]]", text) is not None


def test_search_and_atlas_help_state_the_defaults_the_code_uses(capsys):
    import inspect

    from stylehunt.headhunter import settings as st

    code, out, _ = _cli(capsys, "search", "--help")
    assert code == 0
    shown = " ".join(out.split())
    records = _help_records("search")
    stated = {
        "screen_steps": f"(default: steps // {st.SCREEN_STEPS_DIVISOR}, at least 1)",
        "screen_prompts": "(default: all of them)",
        "rerank": f"(default: {st.RERANK_PER_K:g}k, rounded up)",
        "keep": f"(default: {st.KEEP_PER_K}k)",
        "num_heldout": f"SEED+{st.HELDOUT_SEED_OFFSET}+i",
    }
    defaults = {
        "strategy": st.DEFAULT_STRATEGY, "rounds": st.DEFAULT_ROUNDS, "per_round": st.DEFAULT_PER_ROUND,
        "scale": st.DEFAULT_SCALE, "strength": st.DEFAULT_STRENGTH, "steps": st.DEFAULT_STEPS,
        "identity": st.DEFAULT_IDENTITY, "batch_size": st.DEFAULT_BATCH_SIZE, "seed": st.DEFAULT_SEED,
        "version": st.DEFAULT_PRESET_VERSION, "license_": st.DEFAULT_PRESET_LICENSE,
    }
    for name, text in stated.items():
        assert text in records[name] and text in shown, name
    for name, value in defaults.items():  # "[default: 5]", or "[default: 5; x>=1]" with the option's range
        assert _states_default(records[name], value) and _states_default(shown, value), name
    # ... and those are the defaults the search resolves to, from Python as from the CLI
    k, steps, m = 3, 22, 5
    s = SearchSettings(strategy="screened", steps=steps, per_round=k).resolved(m, 64, 64)
    assert (s.screen_steps, s.screen_prompts, s.rerank, s.keep) == (
        max(1, steps // st.SCREEN_STEPS_DIVISOR), m, math.ceil(st.RERANK_PER_K * k), st.KEEP_PER_K * k)
    signature = inspect.signature(search).parameters
    for name, value in defaults.items():
        python_name = {"seed": "base_seed", "license_": "license"}.get(name, name)
        assert signature[python_name].default == value, name

    code, out, _ = _cli(capsys, "atlas", "--help")
    assert code == 0
    shown = " ".join(out.split())
    records = _help_records("atlas")
    atlas = inspect.signature(render_atlas).parameters
    for name, value in {"seed": st.DEFAULT_SEED, "scale": st.DEFAULT_SCALE, "strength": st.DEFAULT_STRENGTH,
                        "steps": st.DEFAULT_STEPS, "identity": st.DEFAULT_IDENTITY,
                        "batch_size": st.DEFAULT_BATCH_SIZE, "thumb": st.DEFAULT_THUMB}.items():
        assert _states_default(records[name], value) and _states_default(shown, value), name
        assert atlas[name].default == value, name
