"""The provenance kind and label the index records for each bundled version (what ``stylehunt list`` shows).

``list`` reads them from ``index.json`` instead of opening every preset file; these tests keep the
index true to the files, check that ``python -m stylehunt.registry.origins`` rebuilds the fields, and
that ``registry check`` catches an index whose fields went stale.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from stylehunt.cli import main
from stylehunt.registry import check_index
from stylehunt.registry.origins import with_origins

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "registry" / "index.json"


def test_the_bundled_index_records_every_bundled_files_kind_and_label():
    data = json.loads(INDEX.read_text())
    versions = [loc for entry in data["presets"].values() for loc in entry["versions"].values() if "file" in loc]
    assert versions and all("kind" in loc for loc in versions)
    # the fields equal what the files say; if this fails after adding a preset, run
    # `python -m stylehunt.registry.origins registry/index.json`
    assert with_origins(data, ROOT / "presets") == data


def checkout_copy(tmp_path: Path) -> Path:
    """registry/index.json and presets/ as a checkout lays them out."""
    (tmp_path / "registry").mkdir()
    shutil.copy(INDEX, tmp_path / "registry" / "index.json")
    shutil.copytree(ROOT / "presets", tmp_path / "presets")
    return tmp_path / "registry" / "index.json"


def test_the_module_rebuilds_the_fields_byte_for_byte(tmp_path):
    index = checkout_copy(tmp_path)
    data = json.loads(index.read_text())
    for entry in data["presets"].values():
        for loc in entry["versions"].values():
            loc.pop("kind", None)
            loc.pop("label", None)
    index.write_text(json.dumps(data, indent=2) + "\n")
    done = subprocess.run([sys.executable, "-m", "stylehunt.registry.origins", str(index)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert str(index) in done.stdout
    assert index.read_bytes() == INDEX.read_bytes()


def test_registry_check_names_a_stale_label_and_the_fix(tmp_path, capsys):
    index = checkout_copy(tmp_path)
    data = json.loads(index.read_text())
    data["presets"]["sd3-medium/blue"]["versions"]["1.0.0"]["label"] = "Green"
    index.write_text(json.dumps(data, indent=2) + "\n")
    report = check_index(index)
    bad = [v for v in report.versions if not v.ok]
    assert [v.name for v in bad] == ["sd3-medium/blue"]
    assert "label 'Green'" in bad[0].problems[0] and "'Blue'" in bad[0].problems[0]
    assert "python -m stylehunt.registry.origins" in bad[0].problems[0]
    assert main(["registry", "check", str(index)]) != 0
    assert "sd3-medium/blue" in capsys.readouterr().out


def test_list_reads_no_preset_file(capsys, monkeypatch):
    """What ``list`` shows comes from the index alone (opening every preset file cost its start-up)."""
    import stylehunt.registry.fileformat as fileformat

    def refuse(path):
        raise AssertionError(f"list read the preset file {path}")

    monkeypatch.setattr(fileformat, "read_preset_bytes", refuse)
    assert main(["list"]) == 0
    rows = {line.split()[0]: line.split(None, 4)[2:] for line in capsys.readouterr().out.strip().splitlines()[1:]}
    assert rows["sd3-medium/blue"] == ["sd3-medium", "reported", "Blue"]
    assert rows["tiny-sd3/warm"] == ["tiny-sd3", "searched", "warmth"]
