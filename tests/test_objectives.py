"""Objectives: tiny random-weight CLIP models saved to disk and loaded back through the real loaders."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylehunt.objectives as O
from stylehunt.objectives import loading
from stylehunt.errors import ObjectiveError, ScorerUnavailableError, StylehuntError

EMBED = 16  # projection / embedding size of both tiny CLIPs (and so the aesthetic MLP input size)


# ------------------------------------------------------------------------------------------------
# tiny models
# ------------------------------------------------------------------------------------------------


def _byte_vocab() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    return vocab


@pytest.fixture(scope="module")
def tiny_hf_clip(tmp_path_factory) -> Path:
    """A transformers CLIPModel + CLIPProcessor (in-memory byte-level tokenizer), saved with save_pretrained."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab = _byte_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    config = CLIPConfig(
        text_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vocab_size=len(vocab),
            max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        ),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8),
        projection_dim=EMBED,
    )
    torch.manual_seed(0)
    model = CLIPModel(config)
    path = tmp_path_factory.mktemp("tiny-hf-clip")
    model.save_pretrained(path)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


TINY_OPEN_CLIP_CFG = {
    "embed_dim": EMBED,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_open_clip(tmp_path_factory) -> Path:
    """An open_clip ``local-dir:`` folder: open_clip_config.json + open_clip_model.safetensors."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(1)
    model = open_clip.CLIP(**TINY_OPEN_CLIP_CFG)
    path = tmp_path_factory.mktemp("tiny-open-clip")
    save_file(model.state_dict(), str(path / "open_clip_model.safetensors"))
    (path / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_OPEN_CLIP_CFG, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}})
    )
    return path


def _reference_mlp(input_dim: int) -> torch.nn.Sequential:
    """The public improved-aesthetic-predictor layout, written out independently of the library."""
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(input_dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
    )


@pytest.fixture(scope="module")
def tiny_aesthetic(tmp_path_factory) -> tuple[Path, torch.nn.Sequential]:
    """An MLP weights file with input size EMBED, saved like the public .pth (keys ``layers.N.*``)."""
    torch.manual_seed(2)
    mlp = _reference_mlp(EMBED).eval()
    path = tmp_path_factory.mktemp("tiny-aesthetic") / "mlp.pth"
    torch.save({f"layers.{k}": v for k, v in mlp.state_dict().items()}, path)
    return path, mlp


@pytest.fixture()
def images() -> list[Image.Image]:
    rng = np.random.RandomState(0)
    sizes = [(40, 48), (32, 32), (64, 40), (36, 36), (50, 30)]
    return [Image.fromarray((rng.rand(h, w, 3) * 255).astype("uint8")) for w, h in sizes]


PROMPTS = ["a cat on a sofa", "a red bicycle", "a mountain lake at dawn", "a bowl of ramen", "an old lighthouse"]


@pytest.fixture()
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 as a user sets it before starting Python (env and huggingface_hub's constant)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _fake_hub_cache(cache: Path, repo_id: str, files: dict[str, Path]) -> None:
    """Lay files out exactly as huggingface_hub's cache does (refs/main -> snapshots/<commit>/...)."""
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    base = cache / f"models--{repo_id.replace('/', '--')}"
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        (snap / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, snap / name)


def _check_model_objective(obj: O.Objective, images, prompts) -> torch.Tensor:
    """Shared contract: lazy, (N,) float32, no grad, eval mode, deterministic, batching-invariant."""
    assert not obj.loaded and obj.modules() == []
    scores = obj(images, prompts)
    assert obj.loaded
    assert scores.shape == (len(images),) and scores.dtype == torch.float32 and not scores.requires_grad
    assert torch.isfinite(scores).all()
    assert obj.modules() and all(not m.training for m in obj.modules())
    assert all(not p.requires_grad for m in obj.modules() for p in m.parameters())
    assert torch.equal(obj(images, prompts), scores)  # deterministic
    obj.batch_size = 1
    one = obj(images, prompts)
    obj.batch_size = 4
    four = obj(images, prompts)
    assert torch.allclose(one, four, atol=1e-5, rtol=1e-5) and torch.allclose(one, scores, atol=1e-5, rtol=1e-5)
    assert len(set(scores.tolist())) == len(images)  # really depends on the image
    return scores


def _count_calls(monkeypatch, owner, attr: str) -> list[int]:
    calls: list[int] = []
    original = getattr(owner, attr)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, attr, wrapper)
    return calls


# ------------------------------------------------------------------------------------------------
# PickScore
# ------------------------------------------------------------------------------------------------


def test_pickscore_from_folder_contract_and_formula(tiny_hf_clip, images, monkeypatch):
    import transformers

    loads = _count_calls(monkeypatch, transformers.CLIPModel, "from_pretrained")
    obj = O.PickScoreObjective("a watercolor painting", model=str(tiny_hf_clip), processor=str(tiny_hf_clip), batch_size=2)
    assert loads == []  # construction loads nothing
    scores = _check_model_objective(obj, images, PROMPTS)
    obj.load()
    assert len(loads) == 1  # five calls, one load

    # the PickScore formula on the text "<style>, <prompt>", computed here without the library
    model = transformers.CLIPModel.from_pretrained(tiny_hf_clip).eval()
    proc = transformers.AutoProcessor.from_pretrained(tiny_hf_clip)
    with torch.no_grad():
        img = model.get_image_features(**proc(images=images, return_tensors="pt")).pooler_output
        txt = model.get_text_features(
            **proc(text=[f"a watercolor painting, {p}" for p in PROMPTS], padding=True, return_tensors="pt")
        ).pooler_output
    img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
    expected = model.logit_scale.exp() * (img * txt).sum(-1)
    assert torch.allclose(scores, expected, atol=1e-4)


def test_pickscore_text_depends_on_style_and_prompt(tiny_hf_clip, images):
    common = dict(model=str(tiny_hf_clip), processor=str(tiny_hf_clip))
    a = O.PickScoreObjective("oil painting", **common)(images[:2], PROMPTS[:2])
    b = O.PickScoreObjective("pixel art", **common)(images[:2], PROMPTS[:2])
    c = O.PickScoreObjective("oil painting", **common)(images[:2], PROMPTS[2:4])
    assert not torch.allclose(a, b) and not torch.allclose(a, c)
    plain = O.PickScoreObjective("", **common)
    assert plain.template == "{prompt}"
    templated = O.PickScoreObjective("x", template="{prompt}", **common)
    assert torch.allclose(plain(images[:2], PROMPTS[:2]), templated(images[:2], PROMPTS[:2]))


def test_pickscore_from_offline_hub_cache(tiny_hf_clip, images, tmp_path, offline):
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "tiny-org/tiny-pickscore", {p.name: p for p in tiny_hf_clip.iterdir()})
    obj = O.PickScoreObjective("ink", model="tiny-org/tiny-pickscore", processor="hf-hub:tiny-org/tiny-pickscore", cache_dir=str(cache))
    by_id = obj(images, PROMPTS)
    by_folder = O.PickScoreObjective("ink", model=str(tiny_hf_clip), processor=str(tiny_hf_clip))(images, PROMPTS)
    assert torch.allclose(by_id, by_folder)


# ------------------------------------------------------------------------------------------------
# CLIP (open_clip)
# ------------------------------------------------------------------------------------------------


def test_clip_local_dir_contract_negative_and_loads_once(tiny_open_clip, images, monkeypatch):
    creates = _count_calls(monkeypatch, loading, "_create_open_clip")
    model = f"local-dir:{tiny_open_clip}"
    pos = O.ClipObjective("a watercolor painting", model=model, batch_size=3)
    scores = _check_model_objective(pos, images, PROMPTS)
    assert len(creates) == 1
    neg = O.ClipObjective("a photo", model=model)
    both = O.ClipObjective("a watercolor painting", negative="a photo", model=model)
    assert torch.allclose(both(images, PROMPTS), scores - neg(images, PROMPTS), atol=1e-5)
    assert len(creates) == 1  # same model, still alive: shared, not reloaded
    assert all(s.abs().max() <= 100 + 1e-3 for s in (scores,))  # 100 x cosine


def test_clip_by_registered_name_and_checkpoint_file(tiny_open_clip, images, tmp_path):
    import open_clip

    (tmp_path / "stylehunt-tiny-clip.json").write_text(json.dumps(TINY_OPEN_CLIP_CFG))
    open_clip.add_model_config(tmp_path / "stylehunt-tiny-clip.json")
    weights = str(tiny_open_clip / "open_clip_model.safetensors")
    by_name = O.ClipObjective("ink drawing", model="stylehunt-tiny-clip", pretrained=weights)
    by_dir = O.ClipObjective("ink drawing", model=f"local-dir:{tiny_open_clip}")
    # different preprocessing (folder: mean/std 0.5; name: OpenAI defaults) but the same weights
    assert by_name(images, PROMPTS).shape == (5,)
    assert torch.equal(
        next(by_name.modules()[0].parameters()), next(by_dir.load().modules()[0].parameters())
    )


def test_clip_from_offline_hub_cache(tiny_open_clip, images, tmp_path, offline):
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "tiny-org/tiny-open-clip", {p.name: p for p in tiny_open_clip.iterdir()})
    by_hub = O.ClipObjective("ink", model="hf-hub:tiny-org/tiny-open-clip", cache_dir=str(cache))(images, PROMPTS)
    by_dir = O.ClipObjective("ink", model=f"local-dir:{tiny_open_clip}")(images, PROMPTS)
    assert torch.allclose(by_hub, by_dir)


def test_clip_model_name_errors(tiny_open_clip):
    with pytest.raises(ObjectiveError, match="hf-hub:laion/some-clip"):
        O.ClipObjective("x", model="laion/some-clip").load()
    with pytest.raises(ObjectiveError, match="did you mean 'ViT-L-14'"):
        O.ClipObjective("x", model="vit-l-14").load()
    with pytest.raises(ObjectiveError, match="openai") as info:
        O.ClipObjective("x", model="ViT-B-32", pretrained="opneai").load()
    assert "laion2b_s34b_b79k" in str(info.value)  # lists the tags that exist
    with pytest.raises(ObjectiveError, match="does not apply"):
        O.ClipObjective("x", model=f"local-dir:{tiny_open_clip}", pretrained="openai").load()
    with pytest.raises(ObjectiveError, match="style"):
        O.ClipObjective("")
    with pytest.raises(ScorerUnavailableError, match="open_clip_config.json"):
        O.ClipObjective("x", model="local-dir:/no/such/folder").load()


# ------------------------------------------------------------------------------------------------
# Aesthetic
# ------------------------------------------------------------------------------------------------


def test_aesthetic_matches_reference_mlp_and_shares_clip(tiny_open_clip, tiny_aesthetic, images, monkeypatch):
    path, reference = tiny_aesthetic
    creates = _count_calls(monkeypatch, loading, "_create_open_clip")
    clip_model = f"local-dir:{tiny_open_clip}"
    aes = O.AestheticObjective(weights=str(path), clip_model=clip_model, batch_size=2)
    clip = O.ClipObjective("x", model=clip_model)
    scores = _check_model_objective(aes, images, PROMPTS)
    clip.load()
    assert len(creates) == 1  # the CLIP tower is loaded once for both objectives
    import open_clip

    model, preprocess = open_clip.create_model_from_pretrained(clip_model)
    with torch.no_grad():
        emb = model.eval().encode_image(torch.stack([preprocess(im) for im in images]))
        expected = reference(emb / emb.norm(dim=-1, keepdim=True)).squeeze(-1)
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.allclose(aes(images, [""] * 5), scores, atol=1e-6)  # prompts are ignored


def test_aesthetic_weights_layouts_and_mismatch(tiny_open_clip, tiny_aesthetic, images, tmp_path):
    path, reference = tiny_aesthetic
    clip_model = f"local-dir:{tiny_open_clip}"
    bare = tmp_path / "bare.pth"  # saved from a bare nn.Sequential: keys "0.weight", ...
    torch.save(reference.state_dict(), bare)
    a = O.AestheticObjective(weights=str(path), clip_model=clip_model)(images, PROMPTS)
    b = O.AestheticObjective(weights=str(bare), clip_model=clip_model)(images, PROMPTS)
    assert torch.equal(a, b)
    wide = tmp_path / "l14.pth"  # the public file's 768-d input does not fit a 16-d CLIP
    torch.save({f"layers.{k}": v for k, v in _reference_mlp(768).state_dict().items()}, wide)
    with pytest.raises(ObjectiveError, match="768-d.*16-d"):
        O.AestheticObjective(weights=str(wide), clip_model=clip_model).load()
    other = tmp_path / "other.pth"
    torch.save({"layers.0.weight": torch.zeros(4, EMBED), "layers.0.bias": torch.zeros(4)}, other)
    with pytest.raises(ObjectiveError, match="layout"):
        O.AestheticObjective(weights=str(other), clip_model=clip_model).load()


def test_aesthetic_from_offline_hub_file(tiny_open_clip, tiny_aesthetic, images, tmp_path, offline):
    path, _ = tiny_aesthetic
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "tiny-org/aesthetic", {"sub/mlp.pth": path})
    common = dict(clip_model=f"local-dir:{tiny_open_clip}", cache_dir=str(cache))
    hub = O.AestheticObjective(weights="hf-hub:tiny-org/aesthetic/sub/mlp.pth", **common)(images, PROMPTS)
    local = O.AestheticObjective(weights=str(path), **common)(images, PROMPTS)
    assert torch.equal(hub, local)


# ------------------------------------------------------------------------------------------------
# Unavailable scorers: clear, fast errors before any expensive work
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda c: O.PickScoreObjective("x", cache_dir=c), "PickScore processor 'laion/CLIP-ViT-H-14-laion2B-s32B-b79K'"),
        (lambda c: O.ClipObjective("x", cache_dir=c), "ViT-L-14/openai"),
        (lambda c: O.AestheticObjective(cache_dir=c), "sac+logos+ava1-l14-linearMSE.pth"),
        (lambda c: O.ClipObjective("x", model="hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", cache_dir=c), "CLIP-ViT-B-32"),
    ],
    ids=["pickscore", "clip-tag", "aesthetic", "clip-hf-hub"],
)
def test_unavailable_offline_scorers_fail_fast(make, needle, tmp_path, offline):
    obj = make(str(tmp_path / "empty-cache"))
    start = time.perf_counter()
    with pytest.raises(ScorerUnavailableError) as info:
        obj.load()
    assert time.perf_counter() - start < 5
    assert needle in str(info.value) and "offline" in str(info.value)
    assert "folder" in info.value.hint or "path" in info.value.hint or "pretrained=" in info.value.hint
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, StylehuntError)
    assert not obj.loaded


def test_pickscore_model_unavailable_names_the_model(tiny_hf_clip, tmp_path, offline):
    obj = O.PickScoreObjective("x", processor=str(tiny_hf_clip), cache_dir=str(tmp_path / "empty"))
    with pytest.raises(ScorerUnavailableError, match="PickScore model 'yuvalkirstain/PickScore_v1'") as info:
        obj.load()
    assert "hf download yuvalkirstain/PickScore_v1" in info.value.hint and "model=/path/to/folder" in info.value.hint


def test_missing_local_folder_is_unavailable(tmp_path):
    missing = str(tmp_path / "nope" / "pickscore")
    with pytest.raises(ScorerUnavailableError, match="no such folder"):
        O.PickScoreObjective("x", model=missing, processor=missing).load()
    with pytest.raises(ScorerUnavailableError, match="could not be read"):
        O.PickScoreObjective("x", model=str(tmp_path), processor=str(tmp_path)).load()
    with pytest.raises(ScorerUnavailableError, match="no such file"):
        O.AestheticObjective(weights=str(tmp_path / "missing.pth")).load()


# ------------------------------------------------------------------------------------------------
# Image statistics
# ------------------------------------------------------------------------------------------------


def _solid(rgb, size=(16, 16)):
    return Image.new("RGB", size, rgb)


def _stripes(low, high):
    arr = np.zeros((16, 16, 3), dtype=np.uint8)
    arr[:, ::2] = low
    arr[:, 1::2] = high
    return Image.fromarray(arr)


@pytest.mark.parametrize(
    "stat, better, worse",
    [
        ("brightness", _solid((230, 225, 220)), _solid((20, 25, 30))),
        ("saturation", _solid((220, 30, 40)), _solid((128, 128, 128))),
        ("warmth", _solid((230, 140, 60)), _solid((60, 120, 230))),
        ("contrast", _stripes(0, 255), _stripes(120, 135)),
    ],
)
def test_image_stats_rank_obvious_pairs(stat, better, worse):
    obj = O.build_objective(stat)
    scores = obj([better, worse], ["", ""])
    assert scores[0] > scores[1] + 0.1
    assert torch.equal(obj([worse, better], None), scores.flip(0))
    assert obj.modules() == [] and obj.describe() == {"kind": stat}


@pytest.mark.parametrize(
    "stat, image, value",
    [
        ("brightness", _solid((255, 0, 0)), 0.299),
        ("brightness", _solid((255, 255, 255)), 1.0),
        ("saturation", _solid((255, 0, 0)), 1.0),
        ("saturation", _solid((0, 0, 0)), 0.0),
        ("saturation", _solid((200, 100, 100)), 0.5),
        ("contrast", _stripes(0, 255), 0.5),
        ("contrast", _solid((90, 10, 200)), 0.0),
        ("warmth", _solid((255, 0, 0)), 1.0),
        ("warmth", _solid((0, 0, 255)), -1.0),
        ("warmth", _solid((77, 77, 77)), 0.0),
    ],
)
def test_image_stat_definitions(stat, image, value):
    assert O.ImageStatObjective(stat)([image])[0].item() == pytest.approx(value, abs=1e-6)


def test_image_stats_handle_modes_and_sizes():
    rgba = Image.new("RGBA", (10, 7), (255, 255, 255, 0))
    grey = Image.new("L", (3, 30), 255)
    assert O.ImageStatObjective("brightness")([rgba, grey]).tolist() == pytest.approx([1.0, 1.0])


# ------------------------------------------------------------------------------------------------
# build_objective, weighted sums, callables
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("brightness", [(1.0, "brightness")]),
        ("2*warmth", [(2.0, "warmth")]),
        ("warmth*2", [(2.0, "warmth")]),
        ("-brightness", [(-1.0, "brightness")]),
        ("brightness + 0.5 * saturation", [(1.0, "brightness"), (0.5, "saturation")]),
        ("Contrast-1e-1*warmth+.25*brightness", [(1.0, "contrast"), (-0.1, "warmth"), (0.25, "brightness")]),
    ],
)
def test_weighted_sum_parser(spec, expected):
    obj = O.build_objective(spec)
    terms = obj.terms if isinstance(obj, O.WeightedObjective) else [(1.0, obj)]
    assert [o.name for _, o in terms] == [n for _, n in expected]
    assert [w for w, _ in terms] == pytest.approx([w for w, _ in expected])


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("pickscore+", "expected an objective name"),
        ("0.5 aesthetic", "expected '*' after a weight"),
        ("brightness*-1", "expected a number after '*'"),
        ("brightness saturation", "expected '+' or '-'"),
        ("brightness; import os", "unexpected character"),
        ("__import__('os')", "unexpected character"),
        ("brightness+brightness", "more than once"),
        ("0*brightness", "non-zero"),
        ("", "empty"),
    ],
)
def test_weighted_sum_parser_rejects(spec, needle):
    with pytest.raises(ObjectiveError, match=None) as info:
        O.build_objective(spec)
    assert needle in str(info.value)


def test_unknown_objective_lists_names_and_closest():
    with pytest.raises(ObjectiveError) as info:
        O.build_objective("pickscor+0.5*aesthetic", style="x")
    msg = str(info.value)
    assert "'pickscor'" in msg and "did you mean 'pickscore'" in msg
    for name in ["aesthetic", "brightness", "clip", "contrast", "pickscore", "saturation", "warmth"]:
        assert name in msg
    assert O.list_objectives() == sorted(O.list_objectives()) and "warmth" in O.list_objectives()


def test_weighted_sum_combines_exactly(tiny_open_clip, tiny_aesthetic, images):
    clip_model = f"local-dir:{tiny_open_clip}"
    obj = O.build_objective(
        "clip+0.5*aesthetic-2*brightness",
        style="a watercolor painting",
        batch_size=2,  # shared option: every term that takes it
        clip={"model": clip_model, "negative": "a photo"},
        aesthetic={"weights": str(tiny_aesthetic[0]), "clip_model": clip_model},
    )
    assert isinstance(obj, O.WeightedObjective) and obj.name == "clip+0.5*aesthetic-2*brightness"
    (w1, clip), (w2, aes), (w3, bright) = obj.terms
    assert (w1, w2, w3) == (1.0, 0.5, -2.0)
    assert clip.style == "a watercolor painting" and clip.negative == "a photo" and clip.batch_size == 2 and aes.batch_size == 2
    total = obj(images, PROMPTS)
    expected = 1.0 * clip(images, PROMPTS) + 0.5 * aes(images, PROMPTS) + -2.0 * bright(images, PROMPTS)
    assert torch.equal(total, expected)
    assert obj.loaded and len(obj.modules()) == 2  # one shared CLIP tower + the MLP

    description = obj.describe()
    json.dumps(description)  # JSON-able
    rebuilt = O.build_objective(description)
    assert rebuilt.describe() == description
    assert torch.allclose(rebuilt(images, PROMPTS), total, atol=1e-5)  # default batch size: float noise only


def test_build_objective_options_are_checked(tiny_hf_clip):
    obj = O.build_objective("pickscore", style="ink", model=str(tiny_hf_clip), processor=str(tiny_hf_clip), batch_size=3)
    assert isinstance(obj, O.PickScoreObjective) and obj.batch_size == 3 and obj.style == "ink"
    with pytest.raises(ObjectiveError, match="modle"):
        O.build_objective("pickscore", style="ink", modle="x")
    with pytest.raises(ObjectiveError, match="no 'aesthetic' term"):
        O.build_objective("pickscore", style="ink", aesthetic={"weights": "x"})
    with pytest.raises(ObjectiveError, match="no option"):
        O.build_objective("clip", style="ink", clip={"weights": "x"})
    with pytest.raises(ObjectiveError, match="batch_size"):
        O.build_objective("pickscore", batch_size=0)
    with pytest.raises(ObjectiveError, match="dtype"):
        O.build_objective("pickscore", dtype="int8")
    with pytest.raises(ObjectiveError, match="template"):
        O.build_objective("pickscore", template="{style} {colour}")


def test_callable_objective(images):
    def mean_red(imgs, prompts):
        return [float(np.asarray(im)[..., 0].mean()) for im in imgs]

    obj = O.build_objective(mean_red)
    assert isinstance(obj, O.CallableObjective) and obj.name == "mean_red"
    scores = obj(images, PROMPTS)
    assert scores.dtype == torch.float32 and scores.shape == (5,)
    assert obj.describe()["callable"].endswith("mean_red")
    assert O.build_objective(mean_red, name="red", batch_size=2).name == "red"
    with pytest.raises(ObjectiveError, match="do not apply to a callable"):
        O.build_objective(mean_red, style_weight=2)
    with pytest.raises(ObjectiveError, match="cannot be rebuilt"):
        O.build_objective(obj.describe())
    with pytest.raises(ObjectiveError, match=r"shape \(2,\) for 5 images"):
        O.CallableObjective(lambda i, p: [1.0, 2.0])(images, PROMPTS)
    with pytest.raises(ObjectiveError, match="non-finite"):
        O.CallableObjective(lambda i, p: [math.nan] * len(i))(images, PROMPTS)
    mixed = O.WeightedObjective([(2.0, mean_red), (1.0, O.ImageStatObjective("warmth"))])
    assert torch.allclose(mixed(images, PROMPTS), 2 * scores + O.ImageStatObjective("warmth")(images, PROMPTS))


def _video(n: int, seed: int) -> list[Image.Image]:
    rng = np.random.RandomState(seed)
    return [Image.fromarray((rng.rand(24, 32, 3) * 255).astype("uint8")) for _ in range(n)]


@pytest.mark.parametrize("spec", ["brightness", "warmth+0.5*brightness", "clip", "callable"])
def test_a_video_scores_the_mean_of_its_evenly_spaced_frames(spec, tiny_open_clip, images):
    """A video (a list of frames) is one sample: the mean of the scores of frame_indices(len, VIDEO_FRAMES) frames,
    each scored with the video's prompt; images and videos mix in one call; batching does not change it."""
    seen: list[tuple[int, str]] = []

    def red(imgs, prompts):  # a callable sees images only, each frame with its video's prompt
        seen.extend((im.size[0], p) for im, p in zip(imgs, prompts))
        return [float(np.asarray(im, dtype=np.float64)[..., 0].mean()) for im in imgs]

    make = {"callable": lambda: O.build_objective(red),
            "clip": lambda: O.build_objective("clip", style="a watercolor", model=f"local-dir:{tiny_open_clip}")}
    obj = make.get(spec, lambda: O.build_objective(spec))()
    long, short = _video(12, 1), tuple(_video(3, 2))  # 12 frames: 8 of them are scored; 3: all (a tuple counts too)
    assert O.VIDEO_FRAMES == 8 and O.frame_indices(12, 8) == [0, 2, 3, 5, 6, 8, 9, 11]
    samples, prompts = [long, images[0], short], ["a cat", "a dog", "a lake"]
    scores = obj(samples, prompts)
    assert scores.shape == (3,) and scores.dtype == torch.float32
    expected = torch.stack([
        obj([long[i] for i in O.frame_indices(12, 8)], ["a cat"] * 8).mean(),
        obj([images[0]], ["a dog"])[0],
        obj(list(short), ["a lake"] * 3).mean(),
    ])
    assert torch.allclose(scores, expected, atol=1e-4, rtol=1e-5)  # clip: float noise of other batch sizes
    if spec in ("brightness", "warmth+0.5*brightness"):
        assert torch.equal(scores, expected)  # weight-free: exactly the mean of the per-frame scores
    frame_scores = obj(long, ["a cat"] * 12)
    assert not torch.allclose(scores[0], frame_scores.mean())  # really 8 of the 12 frames, not all of them
    obj.batch_size = 2
    assert torch.allclose(obj(samples, prompts), scores, atol=1e-5)
    if spec == "callable":
        assert seen[:12] == [(32, "a cat")] * 8 + [(images[0].size[0], "a dog")] + [(32, "a lake")] * 3


def test_inputs_are_checked(images):
    obj = O.ImageStatObjective("brightness")
    with pytest.raises(ObjectiveError, match="5 images but 2 prompts"):
        obj(images, PROMPTS[:2])
    with pytest.raises(ObjectiveError, match="PIL"):
        obj([np.zeros((4, 4, 3))], [""])
    with pytest.raises(ObjectiveError, match="list of PIL images"):
        obj(images[0], [""])
    with pytest.raises(ObjectiveError, match=r"images\[1\] is a video with no frames"):
        obj([images[0], []], ["", ""])
    with pytest.raises(ObjectiveError, match=r"frame 1 of the video images\[0\] is a ndarray"):
        obj([[images[0], np.zeros((4, 4, 3))]], [""])
    with pytest.raises(ObjectiveError, match=r"2 images but 1 prompts"):
        obj([images[:2], images[2:]], ["one prompt per video, not per frame"][:1])
    assert obj([], []).shape == (0,)


def test_import_is_cheap():
    code = (  # whatever `import stylehunt` itself pulls in is not ours to judge
        "import sys, stylehunt\n"
        "before = set(sys.modules)\n"
        "import stylehunt.objectives, stylehunt.prompts\n"
        "heavy = [m for m in ('torch', 'open_clip', 'transformers', 'datasets', 'huggingface_hub', 'pyarrow')\n"
        "         if m in sys.modules and m not in before]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
