"""The benchmark scripts run end to end (tiny settings) and print the ratios they exist to print.

Timings are not asserted here: only that the scripts work, so a rename cannot silently break them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_script(name: str, *args: str, env_home: Path) -> str:
    import os

    env = {**os.environ, "HOME": str(env_home), "STYLEHUNT_CACHE": str(env_home / "stylehunt"),
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_overhead_benchmark_prints_every_section(_isolated_home):
    out = run_script("overhead.py", "--repeats", "1", "--steps", "2", "--blocks", "4", "--depths", "0", "2",
                     "--section", "prefix", "memory", "families", env_home=_isolated_home)
    assert "1024 image tokens" in out
    assert re.search(r"prefix: worst \(ours/PAG\) / ideal over L: \d+\.\d{3}", out)
    assert re.search(r"prefix: worst ours/PAG for L >= 2: \d+\.\d{3}", out)
    assert re.search(r"^\s+2 .* 0\.833 ", out, re.M)  # the ideal (2 + (4-2)/4) / 3 printed beside L=2
    assert re.search(r"memory ratio .*: \d+\.\d{3}", out)
    from stylehunt.tiny import TINY_FAMILIES

    for family in TINY_FAMILIES:
        # one repeat of 2 steps: the step time (a difference of two runs) may come out noisy, even negative
        assert re.search(rf"^  {re.escape(family)}\s+-?[\d.]+\s+-?[\d.]+\s+-?[\d.]+\s+[\d.]+$", out, re.M), family


def test_overhead_benchmark_times_every_cpu_attention_backend(_isolated_home):
    out = run_script("overhead.py", "--section", "backends", "--repeats", "1", "--steps", "2", "--backend-size", "32",
                     env_home=_isolated_home)
    assert "[backends] tiny FLUX.1" in out
    for backend in ("native", "_native_math", "_native_flash", "flex"):
        # the row ideal under FLUX.1's true CFG (2 rows per step, one perturbed row): 1.5
        assert re.search(rf"^  {re.escape(backend)}(\s+-?[\d.]+){{3}}\s+1\.500(\s+-?[\d.]+){{3}}\s", out, re.M), backend
    assert re.search(r"backends: worst \(ours/plain\) / ideal: -?\d+\.\d{3}, / the backend's own row cost: -?\d+\.\d{3}", out)


def test_overhead_benchmark_names_an_unknown_backend(_isolated_home):
    import os

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--section", "backends",
                           "--backends", "flesh"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HOME": str(_isolated_home), "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2 and "unknown diffusers attention backend(s) ['flesh']" in done.stderr


def test_search_benchmark_prints_the_comparison(_isolated_home):
    out = run_script("search.py", "--layers", "2", "--heads", "4", "--prompts", "2", "--heldout", "1", "--rounds", "1",
                     "--per-round", "1", "--steps", "2", "--seeds", "0", "--objectives", "warmth", "brightness",
                     "--jobs", "2", "--threads", "1", env_home=_isolated_home)
    assert "2 process(es)" in out
    assert re.search(r"screened vs exhaustive: [\d.]+x fewer block-rows \([\d.]+x fewer forward rows", out)
    # every row through every block: 2 pairs x 2 steps x (baseline 1 + set 2 + 8 candidates x 2) = 76
    assert re.search(r"^\s+0 warmth\s+exhaustive\s+76\s+76\.0\s", out, re.M)
    assert re.search(r"^\s+0 warmth\s+screened\s+\d+\s+[\d.]+", out, re.M)
    assert re.search(r"^\s+0 brightness\s+screened\s+\d+\s+[\d.]+", out, re.M)
    assert re.search(r"over 2 runs: block-rows ratio median [\d.]+x", out)
    assert re.search(r"target \(median >= 10x fewer block-rows at >= 95% of the held-out gain\): (met|NOT met)", out)


def test_search_variants_costs_the_exhaustive_search_as_the_benchmark_measures_it(_isolated_home):
    # the same tiny settings as the search benchmark's test above, whose exhaustive run measures 76 block-rows
    out = run_script("search_variants.py", "--layers", "2", "--heads", "4", "--prompts", "2", "--rounds", "1",
                     "--per-round", "1", "--steps", "2", "--seeds", "0", "--objectives", "warmth",
                     env_home=_isolated_home)
    assert "exhaustive as before the shared prefix: 76 block-rows" in out
    assert re.search(r"^  exhaustive \(shared prefix\)\s+[\d.]+\s+[\d.]+x\s+100\.0%", out, re.M)
    assert re.search(r"^  screened s=1 keep=4k rerank=2\.5k\s+[\d.]+\s+[\d.]+x\s+[\d.]+%", out, re.M)
    assert "over 1 runs (median; min)" in out
