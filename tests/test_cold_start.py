"""CLI cold start: commands that never touch a model import neither torch, diffusers nor transformers.

Each case runs in a fresh interpreter (a module imported by an earlier test would hide the cost)
and reports which heavy libraries ended up in ``sys.modules``. The timing ratio against
``python -c "import click"`` lives in benchmarks/cli_startup.py; here only the behaviour is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "diffusers", "transformers")
BUNDLED = ROOT / "presets" / "tiny-sd3" / "warm" / "1.0.0" / "stylehunt_preset.json"

_RUN_CLI = """
import json, sys
from stylehunt.cli import main
code = main(json.loads(sys.argv[1]))
print("\\n" + json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)

COMMANDS = [
    ["--help"],
    ["--version"],
    *[[name, "--help"] for name in ("generate", "heads", "list", "show", "pull", "publish", "search", "atlas")],
    ["list"],
    ["list", "--format", "json"],
    ["show", "sd3-medium/paper-l1h10"],
    ["show", "tiny-sd3/warm", "--format", "json"],
    ["publish", str(BUNDLED), "--repo", "someone/warm-style", "--dry-run"],
    ["list", "--hub", "--help"],
    ["list", "--hub", "paper"],  # offline here: one line, then the registry
    ["submit", "--help"],
    ["registry", "--help"],
    ["registry", "check"],  # the bundled index, every pin
]


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "HF_HUB_OFFLINE": "1",
        "STYLEHUNT_CACHE": str(home / "stylehunt"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _run(code: str, args: list[str], tmp_path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(Path(x).name if "/" in x and x.endswith(".json") else x for x in a))
def test_command_leaves_torch_unimported(args, tmp_path):
    result = _run(_RUN_CLI, [json.dumps(args)], tmp_path)
    assert result["code"] == 0, f"stylehunt {' '.join(args)} failed"
    assert result["heavy"] == [], f"stylehunt {' '.join(args)} imported {result['heavy']}"


def test_library_loads_presets_without_torch(tmp_path):
    code = (
        "import json, sys, stylehunt\n"
        "p = stylehunt.Preset.load('tiny-sd3/warm')\n"
        "names = stylehunt.list_presets('sd3-medium/*')\n"
        "print(json.dumps({'heads': len(p.heads), 'names': names, 'heavy': [m for m in %r if m in sys.modules]}))\n" % (HEAVY,)
    )
    result = _run(code, [], tmp_path)
    assert result["heads"] > 0 and result["names"] and all(n.startswith("sd3-medium/") for n in result["names"])
    assert result["heavy"] == []


def test_the_check_can_fail(tmp_path):
    """Guard: a command that loads a model does import torch, so an empty list above means something."""
    code = "import json, sys, stylehunt\nstylehunt.apply_table\nprint(json.dumps({'heavy': [m for m in %r if m in sys.modules]}))" % (HEAVY,)
    assert "torch" in _run(code, [], tmp_path)["heavy"]


def test_startup_benchmark_prints_the_ratio(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cli_startup.py"), "--repeats", "1"],
        capture_output=True, text=True, env={**_env(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import re

    assert re.search(r"startup ratio \(stylehunt list / import click\): \d+\.\d{3}", proc.stdout)


def test_public_names_are_not_shadowed_by_subpackages(tmp_path):
    """Importing a room's submodule (as the CLI does) must not replace a public function of the same name."""
    code = (
        "import json, sys, stylehunt\n"
        "from stylehunt.cli import main\n"
        "main(['search', '--help'])\n"
        "import stylehunt.headhunter.settings, stylehunt.engine.heads, stylehunt.registry.preset\n"
        "names = [n for n in stylehunt.__all__ if n != '__version__']\n"
        "print('\\n' + json.dumps({'modules': [n for n in names if type(getattr(stylehunt, n)).__name__ == 'module']}))\n"
    )
    assert _run(code, [], tmp_path)["modules"] == []
    assert callable(__import__("stylehunt").search)
