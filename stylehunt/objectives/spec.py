"""Objective specs: names, weighted sums, dicts and callables into objectives (`build_objective`).

A spec string such as ``"pickscore+0.5*aesthetic-0.1*brightness"`` is tokenised and parsed by a
small grammar, never evaluated; each name is looked up in the table of `list_objectives` and
built with the options that apply to it. `WeightedObjective` is the sum such a spec builds,
and ``Objective.describe()`` dicts come back through `build_objective` unchanged.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any, Callable, Iterable, Mapping

from ..errors import ObjectiveError
from .aesthetic import AestheticObjective
from .base import CallableObjective, Objective, check_inputs, check_text, did_you_mean
from .clip import ClipObjective, PickScoreObjective
from .image_stats import IMAGE_STATS, ImageStatObjective

__all__ = ["WeightedObjective", "build_objective", "list_objectives"]


def _format_weight(w: float) -> str:
    return repr(int(w)) if float(w).is_integer() else repr(float(w))


# ------------------------------------------------------------------------------------------------
# WeightedObjective: a sum of terms
# ------------------------------------------------------------------------------------------------


class WeightedObjective(Objective):
    """``sum_i w_i * objective_i(images, prompts)`` over ``[(w_1, obj_1), ...]``.

    Each term batches on its own; `load` loads every term (shared open_clip models are loaded
    once). Weights may be negative (to minimise a term) but not zero.
    """

    kind = "weighted"

    def __init__(self, terms: Iterable[tuple[float, Objective | Callable[..., Any]]], *, name: str | None = None):
        checked: list[tuple[float, Objective]] = []
        for i, term in enumerate(terms):
            if not isinstance(term, (tuple, list)) or len(term) != 2:
                raise ObjectiveError(f"terms[{i}]: expected a (weight, objective) pair, but got {term!r}")
            w, obj = term
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w == 0:
                raise ObjectiveError(f"terms[{i}]: expected a finite non-zero weight, but got {w!r}")
            if not isinstance(obj, Objective):
                obj = CallableObjective(obj)
            checked.append((float(w), obj))
        if not checked:
            raise ObjectiveError("A weighted objective needs at least one (weight, objective) term")
        self.terms = checked
        auto = ""
        for w, obj in checked:
            sign = "-" if w < 0 else ("+" if auto else "")
            mag = abs(w)
            auto += sign + (obj.name if mag == 1 else f"{_format_weight(mag)}*{obj.name}")
        super().__init__(name=name or auto)

    @property
    def loaded(self) -> bool:
        return all(obj.loaded for _, obj in self.terms)

    def load(self) -> "WeightedObjective":
        for _, obj in self.terms:
            obj.load()
        return self

    def modules(self):
        seen: dict[int, Any] = {}
        for _, obj in self.terms:
            for m in obj.modules():
                seen.setdefault(id(m), m)
        return list(seen.values())

    def __call__(self, images, prompts=None):
        images, prompts = check_inputs(images, prompts, self.name)
        self.load()
        total = None
        for w, obj in self.terms:
            part = w * obj(images, prompts)
            total = part if total is None else total + part
        return total

    def describe(self):
        return {"kind": self.kind, "terms": [{"weight": w, "objective": obj.describe()} for w, obj in self.terms]}


# ------------------------------------------------------------------------------------------------
# build_objective: names, weighted-sum strings, dicts, callables
# ------------------------------------------------------------------------------------------------


def _registry() -> dict[str, tuple[type[Objective], dict[str, Any]]]:
    reg: dict[str, tuple[type[Objective], dict[str, Any]]] = {
        "pickscore": (PickScoreObjective, {}),
        "clip": (ClipObjective, {}),
        "aesthetic": (AestheticObjective, {}),
    }
    for stat in IMAGE_STATS:
        reg[stat] = (ImageStatObjective, {"stat": stat})
    return reg


def list_objectives() -> list[str]:
    """Names `build_objective` accepts (sorted)."""
    return sorted(_registry())


def _unknown_objective(name: str) -> ObjectiveError:
    names = list_objectives()
    return ObjectiveError(
        f"Unknown objective {name!r}; valid names: {', '.join(names)}" + did_you_mean(name, names),
        hint="combine names as a weighted sum, e.g. 'pickscore+0.5*aesthetic'",
    )


_TOKEN_RE = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*]))")


def _parse_sum(spec: str) -> list[tuple[float, str]]:
    """Parse ``[+-] [NUM *] NAME [* NUM] ((+|-) ...)*`` into ``[(weight, name)]``. No eval."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    text = spec.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise _syntax(spec, pos + (len(text[pos:]) - len(text[pos:].lstrip())), "unexpected character")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    if not tokens:
        raise ObjectiveError("Expected an objective such as 'pickscore' or 'pickscore+0.5*aesthetic', but got an empty string")
    terms: list[tuple[float, str]] = []
    i = 0
    first = True
    while i < len(tokens):
        sign = 1.0
        if tokens[i][0] == "op" and tokens[i][1] in "+-":
            sign = -1.0 if tokens[i][1] == "-" else 1.0
            i += 1
        elif not first:
            raise _syntax(spec, tokens[i][2], "expected '+' or '-' between terms")
        first = False
        weight = 1.0
        if i < len(tokens) and tokens[i][0] == "num":
            weight = float(tokens[i][1])
            i += 1
            if i >= len(tokens) or tokens[i][:2] != ("op", "*"):
                raise _syntax(spec, tokens[i][2] if i < len(tokens) else len(spec), "expected '*' after a weight")
            i += 1
        if i >= len(tokens) or tokens[i][0] != "name":
            raise _syntax(spec, tokens[i][2] if i < len(tokens) else len(spec), "expected an objective name")
        name = tokens[i][1].lower()
        i += 1
        if i < len(tokens) and tokens[i][:2] == ("op", "*"):
            if i + 1 >= len(tokens) or tokens[i + 1][0] != "num":
                raise _syntax(spec, tokens[i + 1][2] if i + 1 < len(tokens) else len(spec), "expected a number after '*'")
            weight *= float(tokens[i + 1][1])
            i += 2
        terms.append((sign * weight, name))
    return terms


def _syntax(spec: str, pos: int, what: str) -> ObjectiveError:
    return ObjectiveError(
        f"Cannot parse objective {spec!r} at position {pos}: {what}\n  {spec}\n  {' ' * pos}^",
        hint="write names joined by + or -, each with an optional weight: 'pickscore+0.5*aesthetic-0.1*brightness'",
    )


def _params(cls: type) -> set[str]:
    sig = inspect.signature(cls.__init__)
    return {p for p in sig.parameters if p != "self" and sig.parameters[p].kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def _make(name: str, style: str, options: Mapping[str, Any], used: set[str]) -> Objective:
    reg = _registry()
    if name not in reg:
        raise _unknown_objective(name)
    cls, fixed = reg[name]
    accepted = _params(cls) - set(fixed)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key in reg:
            continue
        if key in accepted:
            kwargs[key] = value
            used.add(key)
    own = options.get(name)
    if own is not None:
        if not isinstance(own, Mapping):
            raise ObjectiveError(f"Options for {name!r} must be a dict of settings, but got {own!r}")
        bad = sorted(set(own) - accepted)
        if bad:
            raise ObjectiveError(f"Objective {name!r} has no option(s) {bad}; its options: {', '.join(sorted(accepted))}")
        kwargs.update(own)
    if "style" in accepted and "style" not in kwargs and style:
        kwargs["style"] = style
    try:
        return cls(**fixed, **kwargs)
    except TypeError as e:  # a positional/keyword mismatch the checks above did not catch
        raise ObjectiveError(f"Bad options for objective {name!r}: {e}") from e


def _from_dict(spec: Mapping[str, Any], style: str) -> Objective:
    if "kind" not in spec:
        raise ObjectiveError(f"An objective dict needs a 'kind' (one of {', '.join(list_objectives() + ['weighted'])}), but got keys {sorted(spec)}")
    kind = str(spec["kind"]).lower()
    rest = {k: v for k, v in spec.items() if k != "kind"}
    if kind == "weighted":
        terms = rest.pop("terms", None)
        if rest or not isinstance(terms, list):
            raise ObjectiveError("A weighted objective dict is {'kind': 'weighted', 'terms': [{'weight': w, 'objective': {...}}, ...]}")
        built = []
        for i, term in enumerate(terms):
            if not isinstance(term, Mapping) or set(term) != {"weight", "objective"}:
                raise ObjectiveError(f"terms[{i}]: expected {{'weight': w, 'objective': {{...}}}}, but got {term!r}")
            built.append((term["weight"], _from_dict(term["objective"], style) if isinstance(term["objective"], Mapping) else build_objective(term["objective"], style)))
        return WeightedObjective(built)
    if kind == "callable":
        raise ObjectiveError(f"A callable objective ({spec.get('callable', '?')}) cannot be rebuilt from its description; pass the function itself")
    if kind not in _registry():
        raise _unknown_objective(kind)
    return _make(kind, style, {kind: rest}, set())


def build_objective(spec: "str | Mapping[str, Any] | Objective | Callable[..., Any]", style: str = "", **options: Any) -> Objective:
    """Build an objective from a name, a weighted sum, a dict, an Objective or a callable.

    Args:
        spec: ``"pickscore"``, ``"clip"``, ``"aesthetic"``, ``"brightness"``, ``"saturation"``,
            ``"contrast"``, ``"warmth"``, or a weighted sum of them such as
            ``"pickscore+0.5*aesthetic-0.1*brightness"`` (parsed, never evaluated); a dict as
            returned by `Objective.describe`; an `Objective` (returned as is); or any
            callable ``(images, prompts) -> scores``.
        style: the style text, passed to every term that takes one (``pickscore``, ``clip``).
        **options: settings. A key that names an objective (``aesthetic={"weights": ...}``) applies
            to that term only; any other key (``device="cuda"``, ``batch_size=4``, ``model=...``)
            applies to every term that accepts it. A key no term accepts is an error.

    Example:
        >>> obj = build_objective("brightness-0.5*saturation")
        >>> obj.name, [w for w, _ in obj.terms]
        ('brightness-0.5*saturation', [1.0, -0.5])
        >>> build_objective("brightnes")
        Traceback (most recent call last):
        ...
        stylehunt.errors.ObjectiveError: Unknown objective 'brightnes'; valid names: aesthetic, brightness, clip, contrast, pickscore, saturation, warmth (did you mean 'brightness'?)
    """
    style = check_text(style, "style")
    if isinstance(spec, Objective):
        if options:
            raise ObjectiveError(f"Options {sorted(options)} cannot be applied to an already built objective {spec.name!r}")
        return spec
    if isinstance(spec, Mapping):
        if options:
            raise ObjectiveError(f"Options {sorted(options)} cannot be combined with a dict spec; put them in the dict")
        return _from_dict(spec, style)
    if not isinstance(spec, str):
        if callable(spec):
            bad = sorted(set(options) - {"name", "batch_size"})
            if bad:
                raise ObjectiveError(f"Option(s) {bad} do not apply to a callable objective; accepted: batch_size, name")
            return CallableObjective(spec, **options)
        raise ObjectiveError(f"Expected an objective name, weighted sum, dict or callable, but got {spec!r}")

    terms = _parse_sum(spec)
    names = [n for _, n in terms]
    reg = _registry()
    for n in names:
        if n not in reg:
            raise _unknown_objective(n)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ObjectiveError(f"Objective {spec!r} names {dupes} more than once; add the weights into one term")
    for key, value in options.items():
        if key in reg and key not in names:
            raise ObjectiveError(f"Options for {key!r} were given but {spec!r} has no {key!r} term")
    used: set[str] = set()
    built = [(w, _make(n, style, options, used)) for w, n in terms]
    unused = sorted(k for k in options if k not in reg and k not in used)
    if unused:
        accepted = sorted(set().union(*(_params(reg[n][0]) - set(reg[n][1]) for n in names)))
        raise ObjectiveError(f"Option(s) {unused} apply to no term of {spec!r}; accepted: {', '.join(accepted)}")
    if len(built) == 1 and built[0][0] == 1.0:
        return built[0][1]
    return WeightedObjective(built)
