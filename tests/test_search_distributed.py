"""``accelerate launch --multi_gpu --num_processes 2 -m stylehunt search`` (2 CPU processes, gloo)
gives the same heads and the same scores as one process.

Units of work are cut from the settings alone, so each unit is the same pipeline call in either
run. Both runs use one intra-op thread per process (torchrun's default): with the same thread
count the scores are bit-identical, which is what this test asserts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_same_heads_and_scores_as_one(tiny_sd3_path, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red house\na small dog\na tree by a lake\na bowl of fruit\na blue car\n")
    search_args = ["search", "--model", str(tiny_sd3_path), "--model-id", "tiny-sd3", "--objective", "warmth",
                   "--prompts", str(prompts), "--num-prompts", "3", "--num-heldout", "2", "--rounds", "2",
                   "--per-round", "1", "--steps", "2", "--resolution", "64", "--batch-size", "4",
                   "--format", "json", "--out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    accelerate = Path(sys.executable).parent / "accelerate"
    launch = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
              "-m", "stylehunt"]
    two = subprocess.run(launch + search_args + [str(tmp_path / "two")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "stylehunt"] + search_args + [str(tmp_path / "one")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]

    # only the main process printed (one JSON document)
    assert json.loads(two.stdout)["heads"] == json.loads(one.stdout)["heads"]
    a = json.loads((tmp_path / "one" / "scores.json").read_text())
    b = json.loads((tmp_path / "two" / "scores.json").read_text())
    for key in ("heads", "baseline", "rounds", "heldout", "forward_rows"):
        assert a[key] == b[key], key
    # the work really was split: both processes computed units of every multi-unit phase
    state = json.loads((tmp_path / "two" / "state.json").read_text())
    assert state["status"] == "done"
    for name, phase in state["phases"].items():
        ranks = {u["process"] for u in phase["units"].values()}
        assert ranks == ({0, 1} if len(phase["units"]) > 1 else {0}), name
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
