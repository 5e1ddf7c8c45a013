"""The head grid: which attention heads a transformer has, and how stylehunt addresses them (`HeadGrid`).

A head is ``(layer, head)``, both 0-based, over the flat layer list its family's adapter declares.
Torch-free at import: the registry reads `KINDS`, `SUPPORTED_TRANSFORMERS` and the fingerprint
helpers without it, and a real-size model built on ``meta`` costs no memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..errors import HeadOutOfRangeError, UnsupportedModelError
from .families import adapter_for_transformer, adapters, is_supported_transformer, supported_transformers, unwrap_compiled
from .families.spec import IDENTITY_MODES, KINDS, AttentionLayer

if TYPE_CHECKING:
    import torch

__all__ = [
    "IDENTITY_MODES",
    "LayerInfo",
    "HeadGrid",
    "head_grid",
    "attention_modules",
    "transformer_of",
    "unwrap_compiled",
    "fingerprint_family",
    "describe_fingerprint",
    "KINDS",
    "SUPPORTED_TRANSFORMERS",
    # what the registry validates fingerprints with (this module is its torch-free view of the engine)
    "supported_transformers",
    "is_supported_transformer",
]


@dataclass(frozen=True)
class LayerInfo:
    """One addressable attention layer."""

    index: int
    module_name: str
    heads: int
    head_dim: int
    kind: str  # one of KINDS
    #: the adapter's ``query_runs``: attention in several calls, queries the trailing keys of each
    query_runs: bool = field(default=False, compare=False)

    @property
    def has_text(self) -> bool:
        return self.kind != "image"


@dataclass(frozen=True)
class HeadGrid:
    """The addressable heads of one transformer."""

    transformer_class: str
    layers: tuple[LayerInfo, ...]
    #: the adapter's name (``"chroma"``); empty for a grid built by hand
    family: str = ""
    #: whether `fingerprint` records ``family`` (see ``Adapter.fingerprint_family``)
    family_in_fingerprint: bool = False

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def heads_per_layer(self) -> tuple[int, ...]:
        return tuple(layer.heads for layer in self.layers)

    @property
    def num_heads(self) -> int:
        """Total number of addressable heads."""
        return sum(self.heads_per_layer)

    @property
    def head_dim(self) -> int:
        dims = {layer.head_dim for layer in self.layers}
        return dims.pop() if len(dims) == 1 else -1

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """Every ``(layer, head)`` address, layer-major."""
        for layer in self.layers:
            for h in range(layer.heads):
                yield (layer.index, h)

    def __contains__(self, address: object) -> bool:
        try:
            self.check((address[0], address[1]))  # type: ignore[index]
        except (HeadOutOfRangeError, TypeError, IndexError):
            return False
        return True

    def check(self, address: tuple[int, int], where: str = "") -> None:
        """Raise `HeadOutOfRangeError` unless ``address`` exists in this grid."""
        layer, head = address
        prefix = f"{where}: " if where else ""
        if not 0 <= layer < self.num_layers:
            raise HeadOutOfRangeError(
                f"{prefix}layer {layer} out of range for {self.transformer_class} with "
                f"{self.num_layers} attention layers (valid: 0-{self.num_layers - 1})",
                hint="run `stylehunt heads --model ...` to print this model's head grid",
            )
        n = self.layers[layer].heads
        if not 0 <= head < n:
            raise HeadOutOfRangeError(
                f"{prefix}head {head} out of range for {n} heads in layer {layer} "
                f"({self.layers[layer].module_name}; valid: 0-{n - 1})",
                hint="run `stylehunt heads --model ...` to print this model's head grid",
            )

    def fingerprint(self) -> dict[str, Any]:
        """Architecture fingerprint: equal fingerprints mean head addresses mean the same thing.

        Families added since fingerprints record their family carry ``"family"`` (first); SD3 and
        FLUX.1 fingerprints do not, and `fingerprint_family` derives theirs from the class.
        """
        family = {"family": self.family} if self.family and self.family_in_fingerprint else {}
        return {
            **family,
            "transformer_class": self.transformer_class,
            "num_layers": self.num_layers,
            "heads_per_layer": self.layers[0].heads if len(set(self.heads_per_layer)) == 1 else list(self.heads_per_layer),
            "head_dim": self.head_dim,
            "layer_kinds": _run_length([layer.kind for layer in self.layers]),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "transformer_class": self.transformer_class,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "layers": [
                {"layer": l.index, "module": l.module_name, "heads": l.heads, "head_dim": l.head_dim, "kind": l.kind}
                for l in self.layers
            ],
        }

    def format(self) -> str:
        """A human-readable table (what ``stylehunt heads`` prints)."""
        lines = [
            f"{self.transformer_class}: {self.num_layers} attention layers, {self.num_heads} heads"
            f" (head dim {self.head_dim})",
            f"{'layer':>5}  {'heads':>5}  {'kind':<10}  module",
        ]
        for l in self.layers:
            lines.append(f"{l.index:>5}  {l.heads:>5}  {l.kind:<10}  {l.module_name}")
        return "\n".join(lines)


def _run_length(items: list[str]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for item in items:
        if out and out[-1][0] == item:
            out[-1][1] += 1
        else:
            out.append([item, 1])
    return out


def transformer_of(model: Any) -> torch.nn.Module:
    """Accept a pipeline (anything with the denoiser a family names first: ``.transformer``, a
    U-Net pipeline's ``.unet``) or a transformer (or U-Net; a ``torch.compile``d one too)."""
    import torch

    for name in dict.fromkeys(a.denoisers[0] for a in adapters()):
        transformer = unwrap_compiled(getattr(model, name, None))
        if isinstance(transformer, torch.nn.Module):
            return transformer
    if isinstance(model, torch.nn.Module):
        return unwrap_compiled(model)
    raise UnsupportedModelError(
        f"expected a diffusers pipeline with a `.transformer` (or `.unet`) or a transformer model, got {type(model).__name__}",
        hint=f"supported transformers: {', '.join(supported_transformers())}",
    )


def _attention_layers(transformer: Any) -> list[AttentionLayer]:
    """Every addressable attention of ``transformer``, in address order, as its family lists them."""
    return adapter_for_transformer(type(transformer).__name__).attention_layers(transformer)


def fingerprint_family(fingerprint: dict[str, Any]) -> str | None:
    """The family a fingerprint was made for: its ``"family"``, else the one of its transformer class.

    Fingerprints written before families were recorded (every SD3 and FLUX.1 preset) have no
    ``"family"``; theirs is the family that owns their transformer class. ``None`` when neither
    says (an unknown class).

    >>> fingerprint_family({"transformer_class": "FluxTransformer2DModel"})
    'flux'
    >>> fingerprint_family({"family": "chroma", "transformer_class": "ChromaTransformer2DModel"})
    'chroma'
    """
    if fingerprint.get("family"):
        return str(fingerprint["family"])
    cls = fingerprint.get("transformer_class")
    if cls in supported_transformers():
        return adapter_for_transformer(cls).family
    return None


def describe_fingerprint(fingerprint: Mapping[str, Any] | None) -> str:
    """A fingerprint as one line for people (model cards, ``show``, index checks).

    >>> describe_fingerprint({"transformer_class": "SD3Transformer2DModel", "num_layers": 24,
    ...                       "heads_per_layer": 24, "head_dim": 64})
    'SD3Transformer2DModel, 24 attention layers x 24 heads, head dim 64'
    """
    if not fingerprint:
        return "not recorded"
    fp = fingerprint
    return f"{fp['transformer_class']}, {fp['num_layers']} attention layers x {fp['heads_per_layer']} heads, head dim {fp['head_dim']}"


def _head_dim(attn: torch.nn.Module) -> int:
    head_dim = getattr(attn, "head_dim", None)
    if head_dim is None:
        head_dim = attn.inner_dim // attn.heads
    return int(head_dim)


def head_grid(model: Any) -> HeadGrid:
    """The head grid of a pipeline's transformer (or of a transformer).

    >>> import torch
    >>> from diffusers import SD3Transformer2DModel
    >>> with torch.device("meta"):
    ...     t = SD3Transformer2DModel(num_layers=2, num_attention_heads=4, attention_head_dim=8,
    ...                               caption_projection_dim=32, joint_attention_dim=32, pooled_projection_dim=64)
    >>> grid = head_grid(t)
    >>> grid.num_layers, grid.heads_per_layer, grid.layers[1].module_name
    (2, (4, 4), 'transformer_blocks.1.attn')
    """
    transformer = transformer_of(model)
    adapter = adapter_for_transformer(type(transformer).__name__)
    layers = tuple(
        LayerInfo(
            index=i, module_name=name, heads=int(attn.heads), head_dim=_head_dim(attn), kind=kind,
            query_runs=adapter.query_runs,
        )
        for i, (name, attn, kind) in enumerate(adapter.attention_layers(transformer))
    )
    return HeadGrid(
        transformer_class=type(transformer).__name__,
        layers=layers,
        family=adapter.family,
        family_in_fingerprint=adapter.fingerprint_family,
    )


def attention_modules(model: Any) -> list[torch.nn.Module]:
    """The attention modules in address order (layer ``i`` is element ``i``)."""
    return [layer.module for layer in _attention_layers(transformer_of(model))]


def __getattr__(name: str) -> tuple[str, ...]:
    # Computed on access, so that registered and entry-point adapters count too.
    if name == "SUPPORTED_TRANSFORMERS":
        return supported_transformers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
