"""Rows of a transformer call: the duplicates computed once, and the rows picked for the extended batch."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import GuidanceError
from .families.spec import Adapter

__all__ = ["unique_rows", "select_rows", "select_items"]


def unique_rows(call: dict[str, Any], adapter: Adapter, batch: int) -> tuple[list[int], list[int]]:
    """``(keep, inverse)``: the first of every set of rows whose inputs are identical, and each row's
    position in ``keep``. Rows are compared on every argument the adapter says carries the batch."""
    columns: list[Any] = []
    for name in adapter.batched:
        value = call.get(name)
        if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == batch:
            columns.append(value)
    for name in adapter.batched_per_sample:
        value = call.get(name)
        if value is not None and len(value) == batch:
            columns.append(list(value))
    for name in adapter.batched_per_block:
        columns.extend(v for v in call.get(name) or () if torch.is_tensor(v) and v.shape[0] == batch)
    keep: list[int] = []
    inverse: list[int] = []
    for i in range(batch):
        for position, j in enumerate(keep):
            if all(_same(column[i], column[j]) for column in columns):
                inverse.append(position)
                break
        else:
            inverse.append(len(keep))
            keep.append(i)
    return keep, inverse


def _same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a) and torch.is_tensor(b):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a) or torch.is_tensor(b):
        return False
    return a == b


def select_rows(value: torch.Tensor, index: list[int], batch: int, name: str) -> torch.Tensor:
    if value.shape[0] != batch:
        raise GuidanceError(
            f"transformer argument `{name}` has batch {value.shape[0]}, expected {batch}; cannot add perturbed rows"
        )
    return value.index_select(0, torch.tensor(index, device=value.device))


def select_items(value: list[Any], index: list[int], batch: int, name: str) -> list[Any]:
    if len(value) != batch:
        raise GuidanceError(
            f"transformer argument `{name}` has {len(value)} entries, expected one per row ({batch}); "
            "cannot add perturbed rows"
        )
    return [value[i] for i in index]
