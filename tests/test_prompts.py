"""Prompt sources: a slice of the real PartiPrompts TSV (read in place), local formats, sampling and splits, errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stylehunt.errors import PromptSourceError, StylehuntError
from stylehunt.prompts import PromptSet, generation_seeds, load_prompts

# 104 rows of PartiPrompts.tsv, unchanged, in all 12 categories (how they were taken: SOURCE.md beside it)
PARTI_TSV = Path(__file__).resolve().parent / "data" / "parti-prompts" / "PartiPrompts-slice.tsv"

PARTI_CATEGORIES = {
    "Abstract": 4, "Animals": 23, "Artifacts": 18, "Arts": 2, "Food & Beverage": 5, "Illustrations": 8,
    "Indoor Scenes": 2, "Outdoor Scenes": 10, "People": 10, "Produce & Plants": 4, "Vehicles": 5,
    "World Knowledge": 13,
}


def _raw_parti_rows() -> list[list[str]]:
    """The TSV split by hand (no csv module), to check the loader against."""
    lines = PARTI_TSV.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["Prompt", "Category", "Challenge", "Note"]
    return [line.split("\t") for line in lines[1:] if line.strip()]


# ------------------------------------------------------------------------------------------------
# PartiPrompts (the slice), read in place
# ------------------------------------------------------------------------------------------------


def test_parti_tsv_rows_and_categories():
    ps = load_prompts(str(PARTI_TSV))
    assert len(ps) == 104 and ps.category_counts() == PARTI_CATEGORIES
    assert ps.prompts[0] == "bond" and ps.categories[0] == "Abstract"
    assert ps.prompts == [row[0].strip() for row in _raw_parti_rows()]
    quoted = [p for p in ps.prompts if '"Fly an airplane"' in p]
    assert len(quoted) == 1 and quoted[0].startswith("A robot painted as graffiti")  # quotes survive
    assert '"G I G G L E" painted in thick colorful lettering' in " ".join(ps.prompts)  # TSV: no quoting


@pytest.mark.parametrize(
    "category, count",
    [("Animals", 23), ("animals", 23), ("  Food & Beverage ", 5), (["People", "Vehicles"], 15)],
)
def test_parti_category_filter(category, count):
    ps = load_prompts(str(PARTI_TSV), category=category)
    assert len(ps) == count
    assert set(ps.categories) <= set(PARTI_CATEGORIES)
    assert "category=" in ps.source


def test_parti_filter_by_other_column_and_limit():
    basic = sum(1 for row in _raw_parti_rows() if row[2] == "Basic")
    assert len(load_prompts(str(PARTI_TSV), filter="Challenge=Basic")) == basic
    both = load_prompts(str(PARTI_TSV), category="Animals", filter={"Challenge": ["Basic", "Imagination"]})
    assert 0 < len(both) < 23 and set(both.categories) == {"Animals"}
    short = load_prompts(str(PARTI_TSV), filter=lambda row: len(row["Prompt"]) < 10, limit=7)
    assert len(short) == 7 and all(len(p) < 10 for p in short)


def test_parti_unknown_category_lists_available():
    with pytest.raises(PromptSourceError) as info:
        load_prompts(str(PARTI_TSV), category="Animal")
    msg = str(info.value)
    assert "'Animal'" in msg and "did you mean 'Animals'" in msg
    assert all(c in msg for c in PARTI_CATEGORIES)


def test_parti_tsv_through_datasets_matches_local_reader():
    via_datasets = load_prompts({"path": "csv", "data_files": str(PARTI_TSV), "delimiter": "\t"}, category="Arts")
    local = load_prompts(str(PARTI_TSV), category="Arts")
    assert via_datasets.prompts == local.prompts and len(local) == 2


@pytest.fixture()
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 set before Python started (so datasets and huggingface_hub saw it)."""
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_parti_by_name_offline_fails_fast_with_hint(offline):
    start = time.perf_counter()
    with pytest.raises(PromptSourceError) as info:
        load_prompts("parti", category="Animals")
    assert time.perf_counter() - start < 10
    assert "nateraw/parti-prompts" in str(info.value)
    assert "PartiPrompts.tsv" in info.value.hint and "path" in info.value.hint


def test_hub_dataset_offline_without_datasets_knowing(monkeypatch):
    """HF_HUB_OFFLINE set after `datasets` was imported: refuse at once instead of retrying."""
    import datasets.config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    start = time.perf_counter()
    with pytest.raises(PromptSourceError, match="offline mode is on"):
        load_prompts("hf:someone/some-prompts")
    assert time.perf_counter() - start < 2


# ------------------------------------------------------------------------------------------------
# Local formats
# ------------------------------------------------------------------------------------------------

ROWS = [
    ("a cat on a sofa", "Animals"),
    ("a bowl of soup, steaming", "Food"),
    ("a lighthouse at night", "Places"),
]


def _write(path: Path, fmt: str) -> Path:
    if fmt == "txt":
        path.write_text("\n".join(["", f"  {ROWS[0][0]}  ", "", ROWS[1][0], ROWS[2][0], "   "]) + "\n")
    elif fmt in ("csv", "tsv"):
        import csv

        with path.open("w", newline="") as f:
            w = csv.writer(f, delimiter="," if fmt == "csv" else "\t")
            w.writerow(["id", "prompt", "category"])
            for i, (p, c) in enumerate(ROWS):
                w.writerow([i, p, c])
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps({"prompt": p, "category": c, "n": i}) for i, (p, c) in enumerate(ROWS)) + "\n\n")
    elif fmt == "json":
        path.write_text(json.dumps([{"prompt": p, "category": c} for p, c in ROWS]))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"prompt": [p for p, _ in ROWS], "category": [c for _, c in ROWS]}), path)
    return path


@pytest.mark.parametrize("fmt", ["txt", "csv", "tsv", "jsonl", "json", "parquet"])
def test_local_formats(tmp_path, fmt):
    ps = load_prompts(_write(tmp_path / f"prompts.{fmt}", fmt))
    assert ps.prompts == [p for p, _ in ROWS]
    assert ps.categories == ([None] * 3 if fmt == "txt" else [c for _, c in ROWS])
    if fmt != "txt":
        assert load_prompts(tmp_path / f"prompts.{fmt}", category="food").prompts == [ROWS[1][0]]


def test_column_selection_and_missing_column(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("caption,style\nan old barn,x\n,y\n  a red kite ,z\n")
    with pytest.raises(PromptSourceError) as info:
        load_prompts(path)
    assert "caption" in str(info.value) and "style" in str(info.value) and info.value.param == "column"
    ps = load_prompts(path, column="caption")
    assert ps.prompts == ["an old barn", "a red kite"]  # blank row dropped, whitespace stripped
    with pytest.raises(PromptSourceError, match=r"no column 'captoin'.*caption, style.*did you mean 'caption'"):
        load_prompts(path, column="captoin")
    with pytest.raises(PromptSourceError, match="no category column"):
        load_prompts(path, column="caption", category="x")
    assert load_prompts(path, column="caption", category="Z", category_column="style").prompts == ["a red kite"]
    with pytest.raises(PromptSourceError, match="Filter column 'colour'"):
        load_prompts(path, column="caption", filter="colour=red")


def test_json_strings_and_lists():
    ps = load_prompts(["  a kettle ", "a bridge"])
    assert ps.prompts == ["a kettle", "a bridge"] and ps.source == "list"


def test_default_set():
    ps = load_prompts()
    assert ps.source == "default" and len(ps) == 40
    counts = ps.category_counts()
    assert len(counts) == 8 and set(counts.values()) == {5}
    assert len(set(ps.prompts)) == 40
    style_words = ("painting", "watercolor", "photo", "style", "anime", "render", "illustration", "sketch")
    assert not [p for p in ps.prompts if any(w in p.lower() for w in style_words)]
    assert len(load_prompts("default", category="animals")) == 5


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


def test_source_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(PromptSourceError, match="No prompts"):
        load_prompts(empty)
    with pytest.raises(PromptSourceError, match="No prompts.*after filtering"):
        load_prompts(str(PARTI_TSV), category="Animals", filter="Challenge=nothing-like-this")
    with pytest.raises(PromptSourceError, match="not 'default', 'parti'"):
        load_prompts(tmp_path / "missing.tsv")
    with pytest.raises(PromptSourceError) as info:
        load_prompts("someone/prompts")
    assert info.value.hint == "for a Hub dataset write hf:someone/prompts"
    with pytest.raises(PromptSourceError, match="folder"):
        load_prompts(tmp_path)
    (tmp_path / "p.xlsx").write_text("x")
    with pytest.raises(PromptSourceError, match="Unsupported prompt file type '.xlsx'"):
        load_prompts(tmp_path / "p.xlsx")
    (tmp_path / "p.txt").write_text("a cat\n")
    with pytest.raises(PromptSourceError, match="plain text"):
        load_prompts(tmp_path / "p.txt", category="Animals")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{oops\n')
    with pytest.raises(PromptSourceError, match="line 2 is not valid JSON"):
        load_prompts(tmp_path / "bad.jsonl")
    with pytest.raises(PromptSourceError, match="limit"):
        load_prompts("default", limit=0)
    with pytest.raises(PromptSourceError, match="hf:OWNER/NAME"):
        load_prompts("hf:no-owner")
    err = PromptSourceError("x")
    assert isinstance(err, ValueError) and isinstance(err, StylehuntError)


# ------------------------------------------------------------------------------------------------
# PromptSet: sampling, splits, seeds, provenance
# ------------------------------------------------------------------------------------------------


def test_sample_is_seeded_and_without_replacement():
    ps = load_prompts(str(PARTI_TSV))
    a, b, c = ps.sample(20, seed=3), ps.sample(20, seed=3), ps.sample(20, seed=4)
    assert a.prompts == b.prompts and a.prompts != c.prompts
    assert len(set(a.prompts)) == 20 and set(a.prompts) <= set(ps.prompts)
    assert all(ps.categories[ps.prompts.index(p)] == cat for p, cat in zip(a.prompts, a.categories))
    assert "sample(n=20, seed=3)" in a.source
    with pytest.raises(PromptSourceError, match="at most 104"):
        ps.sample(2000)


def test_split_is_disjoint_deduped_and_stable():
    texts = [f"prompt {i}" for i in range(12)] + ["prompt 3", "prompt 5", "prompt 5"]
    ps = PromptSet(texts, source="test")
    search, held = ps.split(5, 7, seed=0)
    assert len(search) == 5 and len(held) == 7
    assert not set(search.prompts) & set(held.prompts)
    assert len(set(search.prompts + held.prompts)) == 12  # the repeats were merged first
    assert ps.split(5, 2, seed=0)[0].prompts == search.prompts  # held-out size never moves search
    assert ps.dedupe().sample(5, seed=0).prompts == search.prompts
    assert ps.split(5, 7, seed=1)[0].prompts != search.prompts
    assert len(ps.split(3, 0)[1]) == 0
    with pytest.raises(PromptSourceError, match="only 12 distinct"):
        ps.split(6, 7)
    with pytest.raises(PromptSourceError, match="num_search"):
        ps.split(0, 3)


def test_promptset_validation_and_describe():
    with pytest.raises(PromptSourceError, match="prompts\\[1\\]"):
        PromptSet(["ok", "  "])
    with pytest.raises(PromptSourceError, match="2 prompts but 1 categories"):
        PromptSet(["a", "b"], ["x"])
    ps = PromptSet(["a", "b"], ["x", None], source="s")
    d = ps.describe()
    json.dumps(d)
    assert d["count"] == 2 and d["prompts"] == ["a", "b"] and d["categories"] == ["x", None] and len(d["sha256"]) == 64
    assert "categories" not in PromptSet(["a"]).describe()
    assert d["sha256"] != PromptSet(["a", "c"]).describe()["sha256"]


def test_generation_seeds():
    assert generation_seeds(5) == [0, 1, 2, 3, 4]
    assert generation_seeds(3, base_seed=100) == [100, 101, 102]
    assert generation_seeds(0) == []
    with pytest.raises(PromptSourceError):
        generation_seeds(-1)
    with pytest.raises(PromptSourceError):
        generation_seeds(2, base_seed=1.5)


def test_prompt_files_are_bounded(tmp_path):
    """A FIFO is refused without blocking; JSON nested past the limit is refused before parsing."""
    import os
    import threading

    fifo = tmp_path / "prompts.txt"
    os.mkfifo(fifo)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_error_of(lambda: load_prompts(fifo))), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert outcome and "named pipe" in outcome[0], "reading a FIFO must fail at once, not block"

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 500 + '"a"' + "]" * 500)
    with pytest.raises(PromptSourceError, match="nested more than 64 levels"):
        load_prompts(deep)
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"prompt": "a"}\n' + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(PromptSourceError, match="line 2 is not valid JSON"):
        load_prompts(lines)


def _error_of(fn):
    try:
        fn()
    except PromptSourceError as e:
        return str(e)
    return "no error"


# --------------------------------------------------------------- errors: the parameter in Python, the flag in the CLI


def _table_without_a_prompt_column(folder: Path) -> Path:
    path = folder / "t.csv"
    path.write_text("caption,style\nan old barn,x\na red kite,z\n")
    return path


def test_prompt_errors_carry_the_parameter_and_name_no_flag(tmp_path):
    """#22: a Python caller of load_prompts / PromptSet.split reads its own parameters, never a CLI flag."""
    path = _table_without_a_prompt_column(tmp_path)
    for kwargs in ({}, {"column": "captoin"}):
        with pytest.raises(PromptSourceError) as info:
            load_prompts(path, **kwargs)
        assert info.value.param == "column" and "--" not in f"{info.value} {info.value.hint}", info.value
    with pytest.raises(PromptSourceError) as info:
        load_prompts(path, column="caption").split(2, 1)
    e = info.value
    assert e.param == "num_search" and str(e).endswith("lower `num_search` or `num_heldout`") and "--" not in str(e), e


def _search(tmp_path, monkeypatch, capsys, *args: str) -> str:
    from stylehunt.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--model", "tiny-sd3", "--objective", "brightness", *args, "--out", "runs/a"]) == 1
    assert not (tmp_path / "runs").exists()
    return capsys.readouterr().err


def test_search_names_the_prompt_count_flags(tmp_path, monkeypatch, capsys):
    """Too few prompts for the default --num-prompts 5 and --num-heldout 10: the flags, not num_search/num_heldout."""
    (tmp_path / "few.txt").write_text("a red house\na small dog\na tree by a lake\n")
    err = _search(tmp_path, monkeypatch, capsys, "--prompts", "few.txt")
    assert "Error: Asked for 5 search + 10 held-out prompts" in err and "lower --num-prompts or --num-heldout" in err
    assert "num_search" not in err and "num_heldout" not in err


def test_search_names_the_prompt_column_flag(tmp_path, monkeypatch, capsys):
    _table_without_a_prompt_column(tmp_path)
    err = _search(tmp_path, monkeypatch, capsys, "--prompts", "t.csv")
    assert "Error: --prompt-column: t.csv has no prompt column" in err and "column`" not in err, err
    err = _search(tmp_path, monkeypatch, capsys, "--prompts", "t.csv", "--prompt-column", "captoin")
    assert "Error: --prompt-column: t.csv has no column 'captoin'" in err, err
