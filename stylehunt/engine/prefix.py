"""The shared prefix: a perturbed row is computed only from the block of its first perturbed layer on.

`execution_blocks` and `join_blocks` say where each row joins; `PrefixFork` wraps the blocks so that
rows not yet joined skip them. The transformer's own forward is not changed.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import GuidanceError
from .families.spec import Adapter, resolve
from .forward_patch import ForwardPatch, PatchStack, inner_forward
from .heads import HeadGrid
from .perturbation import HeadPerturber, PerturbedRows

__all__ = ["ExecutionBlock", "execution_blocks", "join_blocks", "native_mask_blocks", "PrefixFork"]


@dataclass(frozen=True)
class ExecutionBlock:
    """One transformer block in execution order, and the arguments of its forward that carry rows."""

    name: str  # dotted path, e.g. "transformer_blocks.3"
    module: torch.nn.Module
    rows: tuple[str, ...]


def execution_blocks(transformer: torch.nn.Module, adapter: Adapter) -> tuple[list[ExecutionBlock], list[int]]:
    """The blocks holding the adapter's layers in execution order, and each layer's block index.

    Blocks are taken in execution order: the adapter's layer groups name their block lists in the order
    the transformer runs them (SD3.5's ``attn2`` layers live in the same blocks as ``attn``, so they join
    at their block, not after all ``attn`` layers). What a block takes per row is declared per layer group
    (`families.spec.LayerGroup.block_rows`); everything else a block gets (rotary embeddings,
    attention kwargs) is the same for every row.
    """
    blocks: list[ExecutionBlock] = []
    index: dict[str, int] = {}
    layer_block: list[int] = []
    for group in adapter.layer_groups:
        for i, block in enumerate(resolve(transformer, group.blocks)):
            name = f"{group.blocks}.{i}"
            if name not in index:
                index[name] = len(blocks)
                blocks.append(ExecutionBlock(name, block, group.block_rows))
            if resolve(block, group.attn, missing_ok=group.optional) is not None:
                layer_block.append(index[name])
    return blocks, layer_block


def native_mask_blocks(transformer: torch.nn.Module, adapter: Adapter, table: torch.Tensor) -> tuple[list[int], torch.Tensor] | None:
    """``(block indices, one u per table row)`` when the transformer's own mask (`Adapter.native_mask`)
    computes exactly what ``table`` asks: every row perturbs all heads of every addressable layer of the
    same blocks, at one strength per row; ``None`` otherwise (and when the config lacks the flag)."""
    if not adapter.native_mask or not getattr(transformer.config, adapter.native_mask[2], False):
        return None
    from .heads import head_grid

    _, layer_block = execution_blocks(transformer, adapter)
    heads = head_grid(transformer).heads_per_layer
    rows = table.reshape(-1, *table.shape[-2:])
    chosen = sorted({layer_block[i] for i in range(len(layer_block)) if bool(rows[:, i].amax() > 0)})
    strengths = []
    for row in rows:
        u = row[0 if not chosen else layer_block.index(chosen[0]), 0]
        for i, block in enumerate(layer_block):
            want = u if block in chosen else 0.0
            if not bool((row[i, : heads[i]] == want).all()) or bool((row[i, heads[i] :] != 0).any()):
                return None
        strengths.append(float(u))
    return (chosen, torch.tensor(strengths)) if chosen and all(s > 0 for s in strengths) else None


def join_blocks(table: torch.Tensor, layer_block: list[int], num_blocks: int) -> list[int]:
    """Each table row's join block: the first block holding one of its perturbed layers (``num_blocks``: none)."""
    rows = table.reshape(-1, *table.shape[-2:]).amax(dim=2) > 0  # (rows, layers)
    out = []
    for row in rows:
        layers = torch.nonzero(row).flatten().tolist()
        out.append(min((layer_block[layer] for layer in layers), default=num_blocks))
    return out


class PrefixFork:
    """Block wrappers that leave not-yet-joined perturbed rows out, installed on the blocks before the last join.

    A perturbed row starts as a copy of its conditional row, and every block before its first perturbed
    attention computes exactly what that block computes for the conditional row. So those blocks run
    without it: each block before a row's *join block* gets only the rows that have joined (the
    pipeline's own rows plus the perturbed rows whose first perturbed layer is in this block or an
    earlier one), and hands on, for each row that has not joined, a copy of its conditional row's
    output. From its join block on, a row is computed like any other. Rows of a per-row strength table
    (the search's candidate head sets) join at their own blocks; a row with no perturbed head never
    joins, and its ``eps_pert`` is its conditional row's output, exactly as it would be computed.
    Embeddings before the first block and the output layers after the last run on every row (they are
    row-wise and cheap); only the blocks skip rows.
    """

    def __init__(self, transformer: torch.nn.Module, adapter: Adapter, grid: HeadGrid, table: torch.Tensor, perturber: HeadPerturber):
        self.blocks, self.layer_block = execution_blocks(transformer, adapter)
        if len(self.layer_block) != grid.num_layers:
            raise GuidanceError(f"adapter {adapter.name!r}: its layer groups give {len(self.layer_block)} layers, the grid {grid.num_layers}")
        self.enabled = all(block.rows for block in self.blocks)  # an adapter that declares no block rows opts out
        self.joins = join_blocks(table, self.layer_block, len(self.blocks))
        self.perturber = perturber
        self.patches = PatchStack()
        self.call: _Call | None = None  # set only while a guided forward runs
        self.skipped = 0  # block-rows not computed, summed over calls (in blocks)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def install(self) -> None:
        if not self.enabled:
            return
        try:
            for position, block in enumerate(self.blocks[: max(self.joins)]):
                self.patches.append(ForwardPatch(block.module, self._wrapper(position, block)))
        except BaseException:
            self.uninstall()
            raise

    def uninstall(self) -> None:
        self.patches.restore()

    def begin(self, batch: int, sources: list[int], rows: PerturbedRows) -> None:
        """A guided forward starts: row ``batch + j`` is a perturbed copy of row ``sources[j]``."""
        n = rows.table.shape[0]
        joins = self.joins if len(self.joins) == n else self.joins * n  # a 2-D table: one join for all rows
        self.call = _Call(batch, sources, rows, joins)

    def end(self) -> None:
        self.call = None

    def _wrapper(self, position: int, block: ExecutionBlock) -> Callable[..., Any]:
        inner = inner_forward(block.module)  # inside any offload/cache hook already on the block
        signature = inspect.signature(type(block.module).forward)

        def forward(*args, **kwargs):
            call = self.call
            if call is None:
                return inner(*args, **kwargs)
            active = [j for j, k in enumerate(call.joins) if k <= position]
            n = len(call.joins)
            if len(active) == n:
                return inner(*args, **kwargs)
            keep = torch.tensor(list(range(call.batch)) + [call.batch + j for j in active])
            bound = signature.bind(block.module, *args, **kwargs).arguments
            bound.pop("self", None)
            extra = bound.pop("kwargs", {})
            for name in block.rows:
                value = bound.get(name)
                if torch.is_tensor(value):
                    if value.shape[0] != call.batch + n:
                        raise GuidanceError(
                            f"{block.name}: argument `{name}` has {value.shape[0]} rows, expected {call.batch + n}; "
                            "the family adapter's block_rows do not match this block"
                        )
                    bound[name] = value.index_select(0, keep.to(value.device))
            outer = self.perturber.rows
            self.perturber.rows = call.subset(active)
            try:
                out = inner(**bound, **extra)
            finally:
                self.perturber.rows = outer
            self.skipped += n - len(active)
            return _expand(out, call.gather(active), len(keep), block.name)

        return forward


@dataclass
class _Call:
    batch: int  # the pipeline's own rows; perturbed row j is row batch + j
    sources: list[int]  # perturbed row j copies row sources[j]
    rows: PerturbedRows
    joins: list[int]

    def subset(self, active: list[int]) -> PerturbedRows | None:
        if not active:
            return None
        table = self.rows.table[torch.tensor(active, device=self.rows.table.device)]
        return PerturbedRows(start=self.batch, table=table, text_len=self.rows.text_len, heads=self.rows.heads)

    def gather(self, active: list[int]) -> torch.Tensor:
        """For every row of the full batch, its row in the block's output (not-joined rows: their conditional row)."""
        where = {j: self.batch + i for i, j in enumerate(active)}
        n = len(self.joins)
        return torch.tensor(list(range(self.batch)) + [where.get(j, self.sources[j]) for j in range(n)])


def _expand(out: Any, gather: torch.Tensor, computed: int, name: str) -> Any:
    """Every row tensor of a block's output (a tensor, or a tuple with tensors and ``None``) to the full batch."""
    if torch.is_tensor(out):
        if out.shape[0] != computed:
            raise GuidanceError(f"{name} returned {out.shape[0]} rows for {computed} input rows")
        return out.index_select(0, gather.to(out.device))
    if isinstance(out, tuple):
        return tuple(_expand(x, gather, computed, name) if torch.is_tensor(x) else x for x in out)
    raise GuidanceError(f"{name} returned a {type(out).__name__}; stylehunt expects tensors from a transformer block")

