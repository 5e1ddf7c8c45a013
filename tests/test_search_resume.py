"""A search killed with SIGKILL (twice, at different points) and resumed ends exactly like an uninterrupted one.

Every run is a real ``python -m stylehunt search`` subprocess on the tiny SD3 (8 heads), so the
kill lands wherever the process happens to be: generating, scoring or writing state.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def _units(run_dir) -> int:
    try:
        state = json.loads((run_dir / "state.json").read_text())
    except (FileNotFoundError, ValueError):  # not written yet (a half file is never visible: os.replace)
        return 0
    return sum(len(p["units"]) for p in state["phases"].values())


def _args(model, prompts, out_flag, run_dir):
    return [sys.executable, "-m", "stylehunt", "search", "--model", str(model), "--model-id", "tiny-sd3",
            "--objective", "brightness", "--prompts", str(prompts), "--num-prompts", "2", "--num-heldout", "1",
            "--rounds", "2", "--per-round", "1", "--steps", "3", "--resolution", "64", "--batch-size", "1",
            "--format", "json", out_flag, str(run_dir)]


def _run(args, cwd):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _kill_after(args, cwd, run_dir, units: int) -> dict:
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while _units(run_dir) < units:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the run recorded no progress in 90 s")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return json.loads((run_dir / "state.json").read_text())


def test_kill_9_twice_then_resume_gives_exactly_the_uninterrupted_result(tiny_sd3_path, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red house\na small dog\na tree by a lake\na bowl of fruit\n")
    whole, cut = tmp_path / "whole", tmp_path / "cut"

    reference = _run(_args(tiny_sd3_path, prompts, "--out", whole), tmp_path)
    expected = json.loads((whole / "scores.json").read_text())
    total_units = sum(len(p["units"]) for p in json.loads((whole / "state.json").read_text())["phases"].values())
    assert total_units == 2 + 16 + 2 + 14 + 2 + 3  # baseline, round 1 (+ set), round 2 (+ set), held-out

    # killed in round 1, resumed, killed again in round 2, resumed to the end
    first = _kill_after(_args(tiny_sd3_path, prompts, "--out", cut), tmp_path, cut, units=5)
    assert first["status"] == "running"
    second = _kill_after(_args(tiny_sd3_path, prompts, "--resume", cut), tmp_path, cut, units=22)
    assert second["status"] == "running" and _units(cut) < total_units
    resumed = _run(_args(tiny_sd3_path, prompts, "--resume", cut), tmp_path)

    assert resumed["heads"] == reference["heads"]
    got = json.loads((cut / "scores.json").read_text())
    for key in ("heads", "baseline", "rounds", "heldout", "forward_rows"):
        assert got[key] == expected[key], key
    # what was recorded before a kill was reused, not recomputed
    final = json.loads((cut / "state.json").read_text())
    for name, phase in first["phases"].items():
        for unit, entry in phase["units"].items():
            assert final["phases"][name]["units"][unit] == entry
    assert not [p for p in os.listdir(cut) if p.endswith(".tmp")]


def test_phases_are_cut_pair_major_and_a_candidate_major_record_keeps_its_order():
    """New phases cut their jobs pair-major (a unit's candidates share a prompt-seed pair); a phase recorded
    candidate-major by an earlier version is read back in its own order, so recorded scores stay with their jobs."""
    from types import SimpleNamespace

    from stylehunt.headhunter.runner import Progress, Runner
    from stylehunt.headhunter.store import RunStore

    class Sampler:
        settings = SimpleNamespace(batch_size=3)
        rows = 0
        block_rows = 0.0

        def __init__(self):
            self.calls = []

        def generate(self, sets, pairs, steps):
            self.calls.append([(s, p) for s, p in zip(sets, pairs)])
            return [float(len(s) * 10 + seed) for s, (_, seed) in zip(sets, pairs)]

    pairs = {"search": [("a", 0), ("b", 1)]}
    sets = [((0, 0),), ((0, 1), (0, 2))]
    dist = SimpleNamespace(num_processes=1, process_index=0, map=lambda items, fn: [fn(x) for x in items])
    sampler = Sampler()
    runner = Runner(sampler, lambda images, prompts: images, RunStore(None, {}, writer=False), dist, pairs, Progress(False, 0))
    assert runner.evaluate_pairs("r1.full", sets, "search", 2) == [[10.0, 11.0], [20.0, 21.0]]
    assert sampler.calls[0] == [(sets[0], ("a", 0)), (sets[1], ("a", 0)), (sets[0], ("b", 1))]  # pair-major
    assert runner.store.data["phases"]["r1.full"]["order"] == "pair"
    # a record without "order" (candidate-major): unit 0 = set 0 on both pairs + set 1 on pair 0
    old = {"sets": [[list(a) for a in s] for s in sets], "pairs": "search", "steps": 2, "batch_size": 3,
           "units": {"0": {"scores": [1.0, 2.0, 3.0], "rows": 6, "seconds": 0.1, "process": 0}}}
    runner.store.data["phases"]["r2.full"] = old
    sampler.calls.clear()
    assert runner.evaluate_pairs("r2.full", sets, "search", 2) == [[1.0, 2.0], [3.0, 21.0]]
    assert sampler.calls == [[(sets[1], ("b", 1))]]  # only the unrecorded unit 1 is generated
    assert runner.block_rows == {"full": 0.0}  # the fake sampler computes nothing
