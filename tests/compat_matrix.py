"""The compatibility matrix: configuration x model family -> status, note, and the test that checks it.

One table drives three things, so they cannot drift apart:

* the tests' parametrisation: a test function takes ``params("<function>")``, one case per cell that
  names it (tests/test_compat_models.py);
* docs/compatibility.md: ``python -m tests.compat_matrix`` prints the table between the doc's
  GENERATED markers;
* tests/test_compat_docs.py: the doc's table equals :func:`markdown`, and every cell's test id is one
  its test function is parametrised with.

A cell is ``EXACT`` (runs and equals the reference: tests/reference.py, the same dtype and weights),
``APPROX`` (runs, with the approximation stated in the note), ``REFUSED`` (a clear error before the
first step, the note says why) or ``UNTESTED`` (cannot run here; the note says why, no test).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The columns: stylehunt.tiny.TINY_FAMILIES (tests/test_compat_docs.py checks they are the same).
FAMILIES = ("sd3", "sd3.5", "flux", "chroma", "zimage", "qwenimage", "flux2", "flux2-dev", "wan")

EXACT, APPROX, REFUSED, UNTESTED = "exact", "approx", "refused", "untested"
SYMBOLS = {EXACT: "✓", APPROX: "≈", REFUSED: "✗", UNTESTED: "–"}
MEANING = {
    EXACT: "runs, guidance has an effect, `remove` is exact, equals the reference in the same dtype",
    APPROX: "runs, with the approximation in the note",
    REFUSED: "refused before the first step with an error that says what to do",
    UNTESTED: "not checked by a test (the note says why)",
}


@dataclass(frozen=True)
class Configuration:
    key: str  # the first part of a cell's test id
    title: str  # the row's name in the doc
    how: str  # what a user writes to get it


@dataclass(frozen=True)
class Cell:
    configuration: str  # Configuration.key
    family: str  # one of FAMILIES
    status: str  # EXACT / APPROX / REFUSED / UNTESTED
    note: str = ""  # the approximation, the refusal or why untested (shown as a numbered footnote)
    test: str = ""  # the function in `module` that checks it; "" when UNTESTED
    module: str = "tests/test_compat_models.py"

    @property
    def id(self) -> str:
        return f"{self.configuration}-{self.family}"

    @property
    def node(self) -> str:
        """The pytest node id of the test case that checks this cell."""
        return f"{self.module}::{self.test}[{self.id}]" if self.test else ""


def cells(configuration: str, status: str, test: str = "", note: str = "", families=FAMILIES, **extra) -> list[Cell]:
    """One row's cells (the same status, note and test for ``families``)."""
    return [Cell(configuration, family, status, note, test, **extra) for family in families]


# --- Quantized, LoRA'd and low-precision models (tests/test_compat_models.py) -----------------------

#: Families whose original single-file key layout the test writes from diffusers' weights.
_GGUF_TESTED = ("zimage", "qwenimage", "wan")
_GGUF_SINGLE_FILE = (
    "not tested: the family's single-file loader reads the original checkpoint's key layout (fused "
    "projections, other names), which the test does not write; the GGUF layers are the same GGUFLinear "
    "as the tested families'"
)

MODEL_CONFIGURATIONS = [
    Configuration("torchao", "torchao int8 weight-only",
                  "`from_pretrained(..., quantization_config=TorchAoConfig(Int8WeightOnlyConfig()), "
                  "torch_dtype=torch.bfloat16)`"),
    Configuration("quanto", "optimum-quanto int8 weights",
                  "`from_pretrained(..., quantization_config=QuantoConfig(\"int8\"))` (deprecated by diffusers 0.42, "
                  "to go in 1.0)"),
    Configuration("gguf", "GGUF Q8_0 single file",
                  "`from_single_file(\"x.gguf\", config=..., quantization_config=GGUFQuantizationConfig(...))`"),
    Configuration("bitsandbytes", "bitsandbytes 8-bit / 4-bit", "`BitsAndBytesConfig(load_in_8bit=True)` (or 4-bit)"),
    Configuration("lora", "LoRA: load, weighted, fused, `add_adapter`",
                  "`load_lora_weights`, `set_adapters([...], [w...])`, `fuse_lora`/`unfuse_lora`, `add_adapter`, "
                  "before or after `apply`"),
    Configuration("bf16", "bfloat16 pipeline", "`from_pretrained(..., torch_dtype=torch.bfloat16)`"),
    Configuration("fp16", "float16 pipeline", "`from_pretrained(..., torch_dtype=torch.float16)`"),
    Configuration("layerwise", "layerwise casting (float8 storage)",
                  "`transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=...)`, "
                  "before or after `apply`"),
]

MODEL_CELLS = [
    *cells("torchao", EXACT, "test_quantized"),
    *cells("quanto", EXACT, "test_quantized"),
    *cells("gguf", EXACT, "test_gguf_single_file", families=_GGUF_TESTED),
    *cells("gguf", UNTESTED, note=_GGUF_SINGLE_FILE, families=tuple(f for f in FAMILIES if f not in _GGUF_TESTED)),
    *cells("bitsandbytes", UNTESTED, note=(
        "not tested: diffusers 0.42.1's bitsandbytes quantizer refuses to load without a GPU (\"No GPU found. "
        "A GPU is needed for quantization.\"); its layers are ordinary Linear replacements, outside attention")),
    *cells("lora", EXACT, "test_lora"),
    *cells("bf16", EXACT, "test_precision"),
    *cells("fp16", EXACT, "test_precision"),
    *cells("layerwise", EXACT, "test_layerwise_casting"),
]

# --- Attention backends (h17a: tests/test_compat_backends.py) ---------------------------------------
# Append Configuration rows and their cells here (module="tests/test_compat_backends.py").
BACKEND_CONFIGURATIONS: list[Configuration] = []
BACKEND_CELLS: list[Cell] = []

# --- Offload, caches and compile (h17b: tests/test_compat_hooks.py) ---------------------------------
# Append Configuration rows and their cells here (module="tests/test_compat_hooks.py").
HOOK_CONFIGURATIONS: list[Configuration] = []
HOOK_CELLS: list[Cell] = []

CONFIGURATIONS = [*MODEL_CONFIGURATIONS, *BACKEND_CONFIGURATIONS, *HOOK_CONFIGURATIONS]
CELLS = [*MODEL_CELLS, *BACKEND_CELLS, *HOOK_CELLS]


def params(test: str, module: str = "tests/test_compat_models.py") -> list:
    """``pytest.param(cell, id=cell.id)`` for every tested cell that names ``test`` in ``module``."""
    import pytest

    return [pytest.param(c, id=c.id) for c in CELLS if c.test == test and c.module == module]


def markdown() -> str:
    """The matrix as Markdown: the table, the legend, the numbered notes and each row's tests."""
    by_key = {(c.configuration, c.family): c for c in CELLS}
    notes: list[str] = []
    lines = ["| configuration | " + " | ".join(FAMILIES) + " |", "|---" * (len(FAMILIES) + 1) + "|"]
    for conf in CONFIGURATIONS:
        row = []
        for family in FAMILIES:
            cell = by_key[(conf.key, family)]
            mark = SYMBOLS[cell.status]
            if cell.note:
                if cell.note not in notes:
                    notes.append(cell.note)
                mark += f" [{notes.index(cell.note) + 1}]"
            row.append(mark)
        lines.append(f"| {conf.title} | " + " | ".join(row) + " |")
    lines += ["", *(f"- {SYMBOLS[s]} {MEANING[s]}" for s in SYMBOLS)]
    if notes:
        lines += ["", *(f"{i}. {note}" for i, note in enumerate(notes, 1))]
    lines += ["", "| configuration | how | checked by |", "|---|---|---|"]
    for conf in CONFIGURATIONS:
        tests = sorted({f"`{c.module}::{c.test}`" for c in CELLS if c.configuration == conf.key and c.test})
        lines.append(f"| {conf.title} | {conf.how} | {', '.join(tests) or 'no test (see the notes)'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
