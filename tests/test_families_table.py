"""docs/families.md: every transformer class a diffusers pipeline takes, supported (by which adapter) or refused (why).

The table between the markers is generated from the code (the built-in adapters and
``stylehunt.engine.families.refused``); ``python -m tests.test_families_table`` rewrites it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

from stylehunt.engine import families
from stylehunt.errors import UnsupportedModelError
from stylehunt.engine.families.refused import REFUSAL_KINDS, REFUSED_TRANSFORMERS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "families.md"
BEGIN, END = "<!-- families table: begin (generated) -->", "<!-- families table: end -->"


def adapter_modules() -> dict[str, tuple[str, int]]:
    """Adapter name -> (its module file, the file's line count), from the modules of the families package."""
    out = {}
    for info in pkgutil.iter_modules(families.__path__):
        if info.name in ("spec", "refused"):
            continue
        module = importlib.import_module(f"{families.__name__}.{info.name}")
        lines = len(Path(module.__file__).read_text().splitlines())
        for value in vars(module).values():
            if isinstance(value, families.Adapter):
                out[value.name] = (f"families/{info.name}.py", lines)
    return out


def render() -> str:
    modules = adapter_modules()
    rows = ["| Transformer class | Status | Adapter (lines) or reason |", "|---|---|---|"]
    for adapter in families.BUILTIN:
        for cls in adapter.transformer_classes:
            path, lines = modules[adapter.name]
            needs = f"; needs diffusers>={adapter.min_diffusers}" if adapter.min_diffusers else ""
            rows.append(f"| `{cls}` | supported: `{adapter.name}` | `{path}` ({lines} lines); "
                        f"{', '.join(f'`{p}`' for p in adapter.pipeline_classes)}{needs} |")
    label = {"unguidable": "refused: cannot be guided exactly", "no_adapter": "refused: no adapter yet"}
    for kind in REFUSAL_KINDS:
        for cls, refusal in sorted(REFUSED_TRANSFORMERS.items()):
            if refusal.kind == kind:
                rows.append(f"| `{cls}` | {label[kind]} | {refusal.reason} |")
    return "\n".join(rows)


def diffusers_pipeline_transformers() -> set[str]:
    """Every model class a diffusers pipeline takes as ``transformer``, ``transformer_2`` or
    ``unconditional_transformer``: the annotations of those parameters in the pipelines' source (a
    class diffusers exports; importing every pipeline instead takes a minute)."""
    import diffusers

    exported = set(dir(diffusers))
    parameter = re.compile(r"^\s+(?:transformer\w*|unconditional_transformer)\s*:\s*([^=\n]+?),?\s*(?:=.*)?$", re.M)
    found: set[str] = set()
    for path in (Path(diffusers.__file__).parent / "pipelines").rglob("pipeline_*.py"):
        for annotation in parameter.findall(path.read_text(encoding="utf-8")):
            found |= {name for name in re.findall(r"\w+", annotation) if name in exported}
    return found


def test_the_docs_table_is_the_one_the_code_gives():
    text = DOC.read_text()
    assert BEGIN in text and END in text
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == render(), "docs/families.md is stale: run `python -m tests.test_families_table`"


def test_no_class_is_both_supported_and_refused():
    both = set(families.supported_transformers()) & set(REFUSED_TRANSFORMERS)
    assert not both, f"remove these from stylehunt/engine/families/refused.py (an adapter covers them): {sorted(both)}"


def test_every_diffusers_pipeline_transformer_is_supported_or_refused():
    found = diffusers_pipeline_transformers()
    assert len(found) > 50 and "HunyuanVideo15Transformer3DModel" in found  # the enumeration works
    missing = found - set(families.supported_transformers()) - set(REFUSED_TRANSFORMERS)
    assert not missing, f"diffusers transformers in no adapter and not in refused.py: {sorted(missing)}"


@pytest.mark.parametrize("cls", ["MochiTransformer3DModel", "Krea2Transformer2DModel"])
def test_apply_and_heads_refuse_a_table_class_with_its_reason(cls):
    with pytest.raises(UnsupportedModelError, match=f"stylehunt does not guide {cls}: {REFUSED_TRANSFORMERS[cls].reason[:30]}"):
        families.adapter_for_transformer(cls)


if __name__ == "__main__":
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n{render()}\n{END}{tail}")
    sys.stdout.write(f"wrote {DOC}\n")
