"""Field checks shared by the preset file and the registry index, and the architecture fingerprint.

Every check raises `stylehunt.errors.PresetFileError` naming the file and the JSON path
of the bad value (``golden.json: heads[3]: ...``). The fingerprint (``HeadGrid.fingerprint()``) is
checked here because a preset file (``model.fingerprint``), an index entry (``models.<alias>``)
and an in-memory `stylehunt.Preset` all carry one.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from typing import Any, Mapping, Sequence

from ..errors import HeadOutOfRangeError, PresetFileError

__all__ = ["FINGERPRINT_KEYS", "FieldReader", "describe", "check_fingerprint", "check_heads_in_fingerprint"]

FINGERPRINT_KEYS = ("transformer_class", "num_layers", "heads_per_layer", "head_dim", "layer_kinds")
_SURROGATE = re.compile("[\ud800-\udfff]")


def describe(value: Any) -> str:
    """How an error message shows a JSON value: its kind and (a prefix of) its text, e.g. ``a string ("x")``."""
    kind = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else None
    if text is None:
        text = json.dumps(value)[:60] if isinstance(value, (list, dict)) else repr(value)[:60]
    return f"{kind} ({text})" if value is not None else kind


class FieldReader:
    """Validates one file's parsed JSON; every error carries the file path and the field path."""

    def __init__(self, path: str | None):
        self.path = path

    def fail(self, field: str | None, message: str, *, hint: str | None = None) -> PresetFileError:
        """The error for ``field`` (returned, for the caller to raise)."""
        where = f"{self.path}: " if self.path else ""
        at = f"{field}: " if field else ""
        return PresetFileError(f"{where}{at}{message}", path=self.path, field=field, hint=hint, detail=message)

    def object(self, value: Any, field: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a JSON object, but got {describe(value)}")
        return value

    def keys(self, obj: Mapping, field: str | None, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
        """Refuse unknown keys (suggesting the closest allowed one) and missing required keys."""
        prefix = f"{field}." if field else ""
        for key in obj:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f"; did you mean `{close[0]}`?" if close else f"; allowed: {', '.join(allowed)}"
                raise self.fail(f"{prefix}{key}", f"unknown field{suggestion}")
        for key in required:
            if key not in obj:
                raise self.fail(f"{prefix}{key}", "missing required field")

    def string(self, value: Any, field: str, *, empty: bool = False, max_len: int = 100_000) -> str:
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, but got {describe(value)}")
        if not empty and not value.strip():
            raise self.fail(field, "expected a non-empty string")
        if len(value) > max_len:
            raise self.fail(field, f"expected at most {max_len} characters, but got {len(value)}")
        surrogate = _SURROGATE.search(value)
        if surrogate:  # JSON can spell one ("\\ud800"), but it is not text: it cannot be written back or printed
            raise self.fail(field, f"expected Unicode text, but it holds the lone surrogate {surrogate.group()!r}")
        return value

    def integer(self, value: Any, field: str, *, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, but got {describe(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(field, f"expected an integer >= {minimum}, but got {value}")
        return value

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(field, f"expected a finite number, but got {describe(value)}")
        return float(value)

    def array(self, value: Any, field: str, *, nonempty: bool = False) -> list:
        if not isinstance(value, list):
            raise self.fail(field, f"expected a JSON array, but got {describe(value)}")
        if nonempty and not value:
            raise self.fail(field, "expected a non-empty array")
        return value

    def head(self, value: Any, field: str) -> tuple[int, int]:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in value)
        ):
            raise self.fail(field, f"expected a [layer, head] pair of integers, but got {describe(value)}")
        if value[0] < 0 or value[1] < 0:
            raise self.fail(field, f"layer and head are 0-based and must be >= 0, but got {value}")
        return (value[0], value[1])

    def heads(self, value: Any, field: str) -> list[tuple[int, int]]:
        """A non-empty list of distinct ``[layer, head]`` pairs, as tuples in file order."""
        items = self.array(value, field, nonempty=True)
        out: list[tuple[int, int]] = []
        seen: dict[tuple[int, int], int] = {}
        for i, item in enumerate(items):
            head = self.head(item, f"{field}[{i}]")
            if head in seen:
                raise self.fail(
                    f"{field}[{i}]",
                    f"duplicate head {list(head)} (already {field}[{seen[head]}]); each head may appear once",
                )
            seen[head] = i
            out.append(head)
        return out


def check_fingerprint(r: FieldReader, fp: Any, field: str) -> dict[str, Any]:
    """Validate an architecture fingerprint at ``field``; return it in canonical form."""
    from ..engine.heads import KINDS, is_supported_transformer, supported_transformers  # torch-free vocabulary

    fp = r.object(fp, field)
    r.keys(fp, field, ("family", *FINGERPRINT_KEYS), FINGERPRINT_KEYS)  # family: optional (older presets lack it)
    family = {"family": r.string(fp["family"], f"{field}.family")} if "family" in fp else {}
    cls = r.string(fp["transformer_class"], f"{field}.transformer_class")
    if not is_supported_transformer(cls):
        raise r.fail(
            f"{field}.transformer_class",
            f"unsupported transformer class {cls!r}; supported: {', '.join(supported_transformers())}",
        )
    num_layers = r.integer(fp["num_layers"], f"{field}.num_layers", minimum=1)
    hpl = fp["heads_per_layer"]
    if isinstance(hpl, list):
        if len(hpl) != num_layers:
            raise r.fail(f"{field}.heads_per_layer", f"expected {num_layers} entries (num_layers), but got {len(hpl)}")
        for i, n in enumerate(hpl):
            r.integer(n, f"{field}.heads_per_layer[{i}]", minimum=1)
    else:
        r.integer(hpl, f"{field}.heads_per_layer", minimum=1)
    head_dim = r.integer(fp["head_dim"], f"{field}.head_dim", minimum=-1)
    if head_dim == 0:
        raise r.fail(f"{field}.head_dim", "expected a positive head dim (or -1 when layers differ), but got 0")
    kinds = r.array(fp["layer_kinds"], f"{field}.layer_kinds", nonempty=True)
    total = 0
    for i, run in enumerate(kinds):
        at = f"{field}.layer_kinds[{i}]"
        if not isinstance(run, list) or len(run) != 2:
            raise r.fail(at, f"expected a [kind, count] pair, but got {describe(run)}")
        if run[0] not in KINDS:
            raise r.fail(at, f"unknown layer kind {run[0]!r}; known: {', '.join(KINDS)}")
        total += r.integer(run[1], at, minimum=1)
    if total != num_layers:
        raise r.fail(f"{field}.layer_kinds", f"counts add up to {total}, but num_layers is {num_layers}")
    return {
        **family,
        "transformer_class": cls,
        "num_layers": num_layers,
        "heads_per_layer": list(hpl) if isinstance(hpl, list) else hpl,
        "head_dim": head_dim,
        "layer_kinds": [[k, n] for k, n in kinds],
    }


def check_heads_in_fingerprint(heads: Sequence[tuple[int, int]], fingerprint: dict[str, Any]) -> None:
    """Raise `HeadOutOfRangeError` for the first head outside the fingerprint's head grid.

    >>> fp = {"num_layers": 24, "heads_per_layer": 24}
    >>> check_heads_in_fingerprint([(1, 10), (2, 40)], fp)
    Traceback (most recent call last):
    ...
    stylehunt.errors.HeadOutOfRangeError: heads[1]: head 40 out of range for 24 heads in layer 2 (valid: 0-23)
    """
    num_layers = fingerprint.get("num_layers")
    per_layer = fingerprint.get("heads_per_layer")
    if not isinstance(num_layers, int) or not isinstance(per_layer, (int, list)):
        return  # not a fingerprint we can read; the engine compares it to the real grid anyway
    hint = f"the preset's model.fingerprint describes {num_layers} attention layers; heads are 0-based"
    for i, (layer, head) in enumerate(heads):
        if not 0 <= layer < num_layers:
            raise HeadOutOfRangeError(
                f"heads[{i}]: layer {layer} out of range for {num_layers} attention layers (valid: 0-{num_layers - 1})",
                hint=hint,
            )
        n = per_layer[layer] if isinstance(per_layer, list) else per_layer
        if not 0 <= head < n:
            raise HeadOutOfRangeError(
                f"heads[{i}]: head {head} out of range for {n} heads in layer {layer} (valid: 0-{n - 1})", hint=hint
            )
