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
first step, the note says why), ``DIFFUSERS`` (diffusers itself cannot run it, guided or not; the
test checks stylehunt adds no error of its own) or ``UNTESTED`` (not run here; the note says why, no
test). Cells of tests not parametrised from this table name their collected case with ``case``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The columns: stylehunt.tiny.TINY_FAMILIES (tests/test_compat_docs.py checks they are the same).
#: The families the compatibility tests run (every row below is built over these).
TESTED = ("sd3", "sd3.5", "flux", "chroma", "zimage", "qwenimage", "flux2", "flux2-dev", "wan", "sdxl", "sd15")
#: The second wave of families (issue #20): not in the compatibility tests' parametrisation yet, every cell UNTESTED.
NEW = ("hunyuanvideo15", "ernieimage", "ltx", "ltx2", "qwenimage21")
FAMILIES = (*TESTED, *NEW)
_NEW_UNTESTED = ("not tested: the families added in the second wave (" + ", ".join(NEW) + ") are not in the "
                 "compatibility tests' parametrisation yet (FLUX 3 has no tiny pipeline of its own: it runs as a "
                 "modular pipeline only)")

EXACT, APPROX, REFUSED, DIFFUSERS, UNTESTED = "exact", "approx", "refused", "diffusers", "untested"
SYMBOLS = {EXACT: "✓", APPROX: "≈", REFUSED: "✗", DIFFUSERS: "⊘", UNTESTED: "–"}
MEANING = {
    EXACT: "runs, guidance has an effect, `remove` is exact, equals the reference in the same dtype",
    APPROX: "runs, with the approximation in the note",
    REFUSED: "refused before the first step with an error that says what to do",
    DIFFUSERS: "diffusers itself cannot run it (a plain run fails the same way); stylehunt adds no error",
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
    #: the collected case's id when the test is not parametrised with :func:`params` ("" when it is not
    #: parametrised at all); None: the cell's own ``id``
    case: str | None = None

    @property
    def id(self) -> str:
        return f"{self.configuration}-{self.family}"

    @property
    def node(self) -> str:
        """The pytest node id of the test case that checks this cell."""
        if not self.test:
            return ""
        case = self.id if self.case is None else self.case
        return f"{self.module}::{self.test}[{case}]" if case else f"{self.module}::{self.test}"


def cells(configuration: str, status: str, test: str = "", note: str = "", families=TESTED, **extra) -> list[Cell]:
    """One row's cells (the same status, note and test for ``families``)."""
    return [Cell(configuration, family, status, note, test, **extra) for family in families]


def model_row(configuration: str, status: str, test: str = "", note: str = "", families=TESTED) -> list[Cell]:
    """A tests/test_compat_models.py row: ``families`` (every family unless given)."""
    return cells(configuration, status, test, note, families)


def by_family(configuration: str, status: str, test: str, cases: dict[str, str], module: str, note: str = "",
              untested: str = "") -> list[Cell]:
    """A row checked by ``test`` in ``module`` for the families in ``cases`` (family -> collected case id);
    the other families are UNTESTED with the note ``untested``."""
    return [
        Cell(configuration, f, status, note, test, module=module, case=cases[f]) if f in cases
        else Cell(configuration, f, UNTESTED, untested)
        for f in TESTED
    ]


# --- Quantized, LoRA'd and low-precision models (tests/test_compat_models.py) -----------------------

#: Families whose original single-file key layout the test writes from diffusers' weights.
_GGUF_ORIGINAL = ("zimage", "qwenimage", "wan")
_GGUF_DIFFUSERS_LAYOUT = (
    "the file holds diffusers' own key layout, which `from_single_file` loads without converting (as it loads "
    "diffusers-format GGUF files); the original checkpoint's layout (fused projections, other names) goes through "
    "diffusers' converter first, which the test does not write. The layers are the same GGUFLinear either way"
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
    *model_row("torchao", EXACT, "test_quantized"),
    *model_row("quanto", EXACT, "test_quantized"),
    *cells("gguf", EXACT, "test_gguf_single_file", families=_GGUF_ORIGINAL),
    *cells("gguf", EXACT, "test_gguf_single_file", families=tuple(f for f in TESTED if f not in (*_GGUF_ORIGINAL, "sd15")),
           note=_GGUF_DIFFUSERS_LAYOUT),
    Cell("gguf", "sd15", EXACT, _GGUF_DIFFUSERS_LAYOUT + "; the tiny SD 1.x U-Net's self-attention layers are too "
         "narrow for a Q8_0 block (32 values), so its Q8_0 layers are the cross-attention and feed-forward ones",
         "test_gguf_single_file"),
    *cells("bitsandbytes", UNTESTED, note=(
        "not tested: diffusers 0.42.1's bitsandbytes quantizer refuses to load without a GPU (\"No GPU found. "
        "A GPU is needed for quantization.\"), although bitsandbytes 0.50.2's CPU backend runs its 8-bit and 4-bit "
        "layers here; its layers are ordinary Linear replacements, outside attention")),
    *model_row("lora", EXACT, "test_lora"),
    *model_row("bf16", EXACT, "test_precision", families=tuple(f for f in TESTED if f != "sd15")),
    Cell("bf16", "sd15", APPROX, (
        "bfloat16 rounding through the tiny SD 1.x U-Net moves the reference run in bfloat16 (latents up to 6.3) 0.44 "
        "from the float32 result and the guided run 0.20: they differ by more than atol 0.1, so the test checks the "
        "guided run is at least as close to the float32 guided result as the bfloat16 reference is"), "test_precision"),
    *model_row("fp16", EXACT, "test_precision"),
    *model_row("layerwise", EXACT, "test_layerwise_casting"),
]

# --- Attention backends (tests/test_compat_backends.py) ---------------------------------------------
# `native` is the default and the reference of every row (tests/test_engine.py checks it against
# tests/reference.py); these rows compare the other backends with it.

_BACKENDS = "tests/test_compat_backends.py"
_MASKED = ("chroma", "zimage")
_FLASH_MASK = (
    "diffusers refuses it, guided or not: \"`attn_mask` is not supported for native flash attention\" (these "
    "families pass a padding mask); `apply` does not refuse it. Use `_native_math` or `native`")
_FLEX = "eager flex on the CPU (slow, warns on every call); compiled flex on a GPU is untested"
_FLUX_ONLY = "not covered: the test runs on flux only"
_ZIMAGE_ONLY = "not covered: the test runs on zimage only"


_SD3_DIRECT = "SD3's processors call torch's SDPA directly and never read the backend: guided as under `native`"
_UNET_DIRECT = ("the U-Nets' processors (`AttnProcessor2_0`) call torch's SDPA directly and never read the backend: "
                "guided as under `native`")


def _backend_row(key: str, backend: str, note: str = "", diffusers_refuses=()) -> list[Cell]:
    test = "test_every_cpu_backend_gives_the_native_guided_result_and_remove_is_exact"

    def cell(f):  # the backend test's CASES are every family
        refused = f in diffusers_refuses
        return Cell(key, f, DIFFUSERS if refused else EXACT,
                    _FLASH_MASK if refused else _SD3_DIRECT if f in ("sd3", "sd3.5") else _UNET_DIRECT if f in ("sdxl", "sd15")
                    else note,
                    test, module=_BACKENDS, case=f"{f}-{backend}")

    return [cell(f) for f in TESTED]


BACKEND_CONFIGURATIONS = [
    Configuration("native-math", "backend `_native_math`", "`transformer.set_attention_backend(\"_native_math\")`"),
    Configuration("native-flash", "backend `_native_flash`", "`transformer.set_attention_backend(\"_native_flash\")`"),
    Configuration("flex", "backend `flex`", "`transformer.set_attention_backend(\"flex\")`"),
    Configuration("image-identity-backend", "`identity=\"image\"` under `flex`",
                  "`set_attention_backend(\"flex\")`, `apply(..., identity=\"image\")`"),
    Configuration("registered-backend", "a GPU-style backend (registered by the test)",
                  "a function registered in diffusers' attention registry under `flash`, before or after `apply`"),
    Configuration("gpu-kernels", "GPU kernels: flash, sage, xformers, cuDNN, efficient, Hub kernels",
                  "`set_attention_backend(\"flash\")` (`\"sage\"`, `\"xformers\"`, `\"_native_cudnn\"`, ...)"),
    Configuration("context-parallel", "context parallelism (Ulysses, ring)",
                  "`transformer.enable_parallelism(config=ContextParallelConfig(...))`, before or after `apply`"),
    Configuration("guider-backend", "`StyleHeadGuidance` under `_native_math`",
                  "a modular pipeline's guider, with `set_attention_backend(\"_native_math\")`"),
]

BACKEND_CELLS = [
    *_backend_row("native-math", "_native_math"),
    *_backend_row("native-flash", "_native_flash", diffusers_refuses=_MASKED),
    *_backend_row("flex", "flex", _FLEX),
    *by_family("image-identity-backend", EXACT, "test_identity_image_through_a_backend_equals_native", {"flux": "flex"},
               _BACKENDS, untested=_FLUX_ONLY),
    *by_family("registered-backend", EXACT, "test_a_gpu_backend_is_reached_through_the_same_wrapper",
               {"flux": "registered before apply"}, _BACKENDS, untested=_FLUX_ONLY, note=(
                   "emulates a GPU kernel: attention computed by hand (never torch's SDPA) and registered in "
                   "diffusers' registry; its output gets the mix, before or after `apply`, and `remove` restores it")),
    *cells("gpu-kernels", UNTESTED, note=(
        "not tested: these kernels need CUDA (or an NPU/XLA device) and their packages; they are reached through "
        "the same registry wrapper as the registered test backend")),
    *by_family("context-parallel", REFUSED, "test_context_parallelism_is_refused_at_apply_and_at_the_first_step",
               {"flux": ""}, _BACKENDS, untested=_FLUX_ONLY, note=(
                   "`UnsupportedModelError` naming the degree at `apply`, or at the first perturbed attention call "
                   "when enabled after; diffusers 0.42.1 cannot run context parallelism without an accelerator, so "
                   "support could not be tested")),
    *by_family("guider-backend", EXACT, "test_the_guider_perturbs_through_a_non_native_backend", {"zimage": ""},
               _BACKENDS, untested=_ZIMAGE_ONLY),
]

# --- Offload, foreign wrappers, compile (tests/test_compat_hooks.py), caches (tests/test_compat_caches.py)

_HOOKS, _CACHES = "tests/test_compat_hooks.py", "tests/test_compat_caches.py"
_FLUX_WAN_ONLY = "not covered: the test runs on flux and wan only"
_OFFLOAD = (
    "offloaded to `cpu` (no GPU here): the hooks are installed, dropped and re-installed at the end of each call as "
    "on CUDA; three calls guided within 1e-5 of the hook-free run (the execution device moves rounding), plain "
    "after `remove` bit-equal. Offload to CUDA is untested")
_SEQUENTIAL = (
    "accelerate's `cpu_offload` on the transformer (weights on `meta` between calls, as on a GPU), which is what "
    "`enable_sequential_cpu_offload` does per model; the pipeline method itself fails here in the CLIP text encoder, "
    "without stylehunt")
_COMPILE = ("compiled with the eager backend (the same traced graph, no graph break), both orders; inductor: the next "
            "row")
_CACHE = (
    "with never-reuse settings, equals the uncached guided result across a guidance-interval bound; with reuse, "
    "the cache's own approximation: still guided, `remove` exact (tested on flux, not SeaCache)")
_FASTER = ("FasterCache splits the batch into CFG halves: refused at `apply` (the hint says `disable_cache()`), or at "
           "the next call when enabled after")


def _cache_row(key: str, cache: str, families) -> list[Cell]:
    test = "test_a_cache_that_never_reuses_gives_the_uncached_result_across_the_interval_bound"
    return by_family(key, EXACT, test, {f: f"{f}-{cache}-cache-first" for f in families}, _CACHES, note=_CACHE,
                     untested=_FLUX_ONLY if families == ("flux",) else _FLUX_WAN_ONLY)


# The other families (tests/test_compat_families.py): the cheapest assertion of the rows that could depend on how
# a family's denoiser is split into components and blocks, one step.
_FAMILIES_TEST = "tests/test_compat_families.py"
_OTHER = ("sd3", "sd3.5", "chroma", "zimage", "qwenimage", "flux2", "flux2-dev", "sdxl", "sd15")  # its FAMILIES
_NO_CACHE = ("sd3", "sd3.5", "zimage", "sdxl", "sd15")  # its NO_CACHE
_ONE_CALL = ("offloaded to `cpu`; one guided call equals the hook-free one within 1e-5, and after `remove` the plain "
             "one (flux and wan: both orders, three calls)")
_NO_CACHE_NOTE = "diffusers 0.42.1 gives this model class no `enable_cache` (it is not a `CacheMixin`)"
_CACHE_ONE = ("never-reuse settings, enabled before `apply`: equals the uncached guided result across a guidance-interval "
              "bound (flux and wan: both orders, and a cache that reuses)")
_FBC_FAILS = {
    "chroma": "diffusers refuses it, guided or not: \"ChromaTransformerBlock ... not registered\" at `enable_cache`",
    "flux2": "diffusers fails at the first step, guided or not: FLUX.2's first block returns a list the cache "
             "subtracts from (TypeError)",
    "flux2-dev": "diffusers fails at the first step, guided or not: \"No cache context is set\" (the pipeline "
                 "sets none)",
}


def _other_families(row: list[Cell], key: str) -> list[Cell]:
    """``row`` with the cells of the families tests/test_compat_families.py covers filled in from it."""
    test_offload = "test_offload_then_apply_and_apply_then_group_offload"
    test_cache = "test_a_cache_that_never_reuses_gives_the_uncached_guided_result"
    cache = {"first-block-cache": "first_block", "pab": "pab"}.get(key)

    def cell(f: str) -> Cell:
        if key in ("model-offload", "group-offload-block"):
            note = _ONE_CALL if key == "model-offload" else "`apply` first, then group offload; " + _ONE_CALL
            return Cell(key, f, EXACT, note, test_offload, module=_FAMILIES_TEST, case=f)
        if f in _NO_CACHE:
            return Cell(key, f, DIFFUSERS, _NO_CACHE_NOTE, "test_diffusers_gives_the_model_no_cache",
                        module=_FAMILIES_TEST, case=f)
        if cache == "first_block" and f in _FBC_FAILS:
            return Cell(key, f, DIFFUSERS, _FBC_FAILS[f], test_cache, module=_FAMILIES_TEST, case=f"{f}-{cache}")
        return Cell(key, f, EXACT, _CACHE_ONE, test_cache, module=_FAMILIES_TEST, case=f"{f}-{cache}")

    covered = (*_OTHER, "wan") if key == "group-offload-block" else _OTHER  # the offload test runs Wan too
    return [cell(c.family) if c.family in covered else c for c in row]


HOOK_CONFIGURATIONS = [
    Configuration("model-offload", "model CPU offload, then `apply`", "`pipe.enable_model_cpu_offload()`, then `apply`"),
    Configuration("apply-model-offload", "`apply`, then model CPU offload",
                  "`apply`, then `pipe.enable_model_cpu_offload()`; `remove_all_hooks` and `remove` in any order"),
    Configuration("sequential-offload", "sequential CPU offload", "`pipe.enable_sequential_cpu_offload()`, before or after `apply`"),
    Configuration("group-offload-block", "group offload, block level",
                  "`transformer.enable_group_offload(..., offload_type=\"block_level\")`, before or after `apply`"),
    Configuration("group-offload-leaf", "group offload, leaf level",
                  "`transformer.enable_group_offload(..., offload_type=\"leaf_level\")`, before or after `apply`"),
    Configuration("foreign-wrapper", "someone else's `forward` wrapper set after `apply`",
                  "`transformer.forward = wrapper(transformer.forward)` after `apply`, then `remove`"),
    Configuration("transformer-replaced", "`pipe.transformer` (`transformer_2`) replaced after `apply`",
                  "`pipe.transformer = other` after `apply`"),
    Configuration("compile-method", "`transformer.compile(fullgraph=True)`", "before or after `apply`"),
    Configuration("compile-assigned", "`pipe.transformer = torch.compile(..., fullgraph=True)`", "before or after `apply`"),
    Configuration("compile-inductor", "compile with inductor (the default backend)",
                  "`apply`, then `transformer.compile(fullgraph=True)`"),
    Configuration("first-block-cache", "First Block Cache", "`transformer.enable_cache(FirstBlockCacheConfig(...))`, before or after `apply`"),
    Configuration("mag-cache", "MagCache", "`transformer.enable_cache(MagCacheConfig(...))`, before or after `apply`"),
    Configuration("sea-cache", "SeaCache", "`transformer.enable_cache(SeaCacheConfig(...))`, before or after `apply`"),
    Configuration("taylorseer", "TaylorSeer cache", "`transformer.enable_cache(TaylorSeerCacheConfig(...))`, before or after `apply`"),
    Configuration("pab", "Pyramid Attention Broadcast",
                  "`transformer.enable_cache(PyramidAttentionBroadcastConfig(...))`, before or after `apply`"),
    Configuration("faster-cache", "FasterCache", "`transformer.enable_cache(FasterCacheConfig(...))`, before or after `apply`"),
]

HOOK_CELLS = [
    *_other_families(by_family("model-offload", EXACT, "test_model_cpu_offload_then_apply_guides_every_call",
                               {"flux": "flux", "wan": "wan"}, _HOOKS, note=_OFFLOAD, untested=_FLUX_WAN_ONLY),
                     "model-offload"),
    *by_family("apply-model-offload", EXACT, "test_apply_then_model_cpu_offload_and_remove_in_any_order", {"flux": ""},
               _HOOKS, note=_OFFLOAD, untested=_FLUX_ONLY),
    *by_family("sequential-offload", EXACT, "test_sequential_cpu_offload_with_weights_on_meta", {"flux": "offload-first"},
               _HOOKS, note=_SEQUENTIAL, untested=_FLUX_ONLY),
    *_other_families(by_family("group-offload-block", EXACT, "test_group_offload_in_either_order",
                               {"flux": "offload-first-block_level"}, _HOOKS, untested=_FLUX_ONLY), "group-offload-block"),
    *by_family("group-offload-leaf", EXACT, "test_group_offload_in_either_order", {"flux": "offload-first-leaf_level"},
               _HOOKS, untested=_FLUX_ONLY),
    *by_family("foreign-wrapper", EXACT, "test_remove_under_a_foreign_wrapper_is_complete_and_leaves_a_pass_through",
               {"flux": ""}, _HOOKS, untested=_FLUX_ONLY, note=(
                   "`remove` cannot take ours out of their closure: ours stays as a pass-through, and plain runs "
                   "equal the plain run before `apply` bit for bit")),
    *by_family("transformer-replaced", REFUSED, "test_a_transformer_replaced_after_apply_is_refused_at_the_next_call",
               {"flux": "transformer", "wan": "transformer_2"}, _HOOKS, untested=_FLUX_WAN_ONLY, note=(
                   "`GuidanceError` at the next call naming the replaced attribute; `apply` again guides the new one")),
    *by_family("compile-method", EXACT, "test_compile_fullgraph_in_either_order_without_graph_breaks",
               {"flux": "compile-first-transformer.compile"}, _HOOKS, note=_COMPILE, untested=_FLUX_ONLY),
    *by_family("compile-assigned", EXACT, "test_compile_fullgraph_in_either_order_without_graph_breaks",
               {"flux": "compile-first-torch.compile"}, _HOOKS, note=_COMPILE, untested=_FLUX_ONLY),
    *_other_families(_cache_row("first-block-cache", "first_block", ("flux", "wan")), "first-block-cache"),
    *by_family("compile-inductor", APPROX, "test_a_guided_step_under_inductor_equals_eager", {"flux": ""}, _HOOKS,
               untested=_FLUX_ONLY, note=(
                   "inductor generates C++ and builds it with the machine's gcc: no graph break, one guided step within "
                   "1e-5 of eager (inductor fuses and reorders float operations, so not bit for bit); inductor's "
                   "CUDA/Triton code is not run here")),
    *_cache_row("mag-cache", "mag", ("flux",)),
    *_cache_row("sea-cache", "sea", ("flux",)),
    *_cache_row("taylorseer", "taylorseer", ("flux",)),
    *_other_families(_cache_row("pab", "pab", ("flux", "wan")), "pab"),
    *by_family("faster-cache", REFUSED, "test_faster_cache_is_refused_at_apply_and_at_the_next_call", {"flux": ""},
               _CACHES, note=_FASTER, untested=_FLUX_ONLY),
]

CONFIGURATIONS = [*MODEL_CONFIGURATIONS, *BACKEND_CONFIGURATIONS, *HOOK_CONFIGURATIONS]
CELLS = [*MODEL_CELLS, *BACKEND_CELLS, *HOOK_CELLS,
         *(c for conf in CONFIGURATIONS for c in cells(conf.key, UNTESTED, note=_NEW_UNTESTED, families=NEW))]


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
