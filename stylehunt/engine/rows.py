"""Rows of a transformer call: the duplicates computed once, the rows picked for the extended batch, and the
guided rows laid out like the prediction the pipeline hands to ``scheduler.step``."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import GuidanceError
from .families.spec import Adapter

__all__ = ["fit_to_model_output", "unique_rows", "select_rows", "select_items", "select_dict_rows", "joined_outputs", "split_outputs"]


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
    columns.extend(_dict_columns(call, adapter, batch))
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


def _dict_tensors(call: dict[str, Any], adapter: Adapter) -> list[tuple[str, str, Any]]:
    """``(argument, key, value)`` of every entry of the dict arguments that carry the batch
    (`families.spec.Adapter.batched_dicts`, SDXL's ``added_cond_kwargs``)."""
    return [(name, key, value) for name in adapter.batched_dicts for key, value in (call.get(name) or {}).items()]


def select_dict_rows(call: dict[str, Any], adapter: Adapter, index: list[int], batch: int) -> dict[str, Any]:
    """The batched dict arguments with rows ``index`` selected from each tensor; ``None`` entries stay.

    An entry that is not a tensor with the batch on dim 0 (an IP-Adapter's list of image embeddings)
    has no rows to append, and is refused.
    """
    out: dict[str, dict[str, Any]] = {name: dict(call[name]) for name in adapter.batched_dicts if call.get(name)}
    for name, key, value in _dict_tensors(call, adapter):
        if value is None:
            continue
        if not (torch.is_tensor(value) and value.dim() > 0):
            raise GuidanceError(
                f"transformer argument `{name}` holds `{key}` ({type(value).__name__}), which stylehunt cannot add "
                "perturbed rows to; generate without it (e.g. without an IP-Adapter), or stylehunt.remove(pipe) first"
            )
        out[name][key] = select_rows(value, index, batch, f"{name}[{key!r}]")
    return out


def _dict_columns(call: dict[str, Any], adapter: Adapter, batch: int) -> list[torch.Tensor]:
    """The tensors of the batched dict arguments that hold one row per batch row, for `unique_rows`."""
    return [v for _, _, v in _dict_tensors(call, adapter) if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == batch]


def _output_parts(out: Any, adapter: Adapter) -> list[torch.Tensor]:
    count = 1 + len(adapter.extra_outputs)
    if isinstance(out, tuple):
        return list(out[:count])
    return [out.sample, *(getattr(out, name) for name in adapter.extra_outputs)]


def joined_outputs(out: Any, adapter: Adapter) -> torch.Tensor:
    """The sample and the adapter's `families.spec.Adapter.extra_outputs` (LTX-2's audio) as one
    ``(rows, features)`` tensor: each output flattened per row, side by side, so that one guidance term covers all."""
    parts = _output_parts(out, adapter)
    dtype = torch.promote_types(*(p.dtype for p in parts)) if len(parts) > 1 else parts[0].dtype
    return torch.cat([p.reshape(p.shape[0], -1).to(dtype) for p in parts], dim=1)


def split_outputs(out: Any, joined: torch.Tensor, adapter: Adapter) -> Any:
    """``out`` with its outputs replaced by the columns of ``joined`` (`joined_outputs`'s layout; any row count)."""
    parts, start, new = _output_parts(out, adapter), 0, []
    for part in parts:
        size = part[0].numel()
        new.append(joined[:, start : start + size].reshape(joined.shape[0], *part.shape[1:]).to(part.dtype))
        start += size
    if isinstance(out, tuple):
        return (*new, *out[len(parts) :])
    out.sample = new[0]
    for name, value in zip(adapter.extra_outputs, new[1:]):
        setattr(out, name, value)
    return out


def fit_to_model_output(
    delta: torch.Tensor, model_output: torch.Tensor, sign: float, kept: str = "leading"
) -> torch.Tensor:
    """``sign * delta`` (the transformer's rows) laid out like the ``model_output`` handed to ``scheduler.step``.

    The pipelines map the transformer output to the scheduler input by squeezing a singleton axis
    (Z-Image's frame axis: same size per row, reshaped) or by slicing off tokens (more tokens on dim 1:
    Qwen-Image-Edit keeps the leading ones, Qwen-Image 2.1 the trailing ones: ``kept``), besides the sign.
    """
    if delta.shape != model_output.shape:
        same_rows = delta.shape[0] == model_output.shape[0]
        if same_rows and delta[0].numel() == model_output[0].numel():
            delta = delta.reshape(model_output.shape)
        elif (
            same_rows
            and delta.dim() == model_output.dim() >= 2
            and delta.shape[2:] == model_output.shape[2:]
            and delta.shape[1] > model_output.shape[1]
        ):
            n = model_output.shape[1]
            delta = delta[:, :n] if kept == "leading" else delta[:, delta.shape[1] - n :]
        else:
            raise GuidanceError(
                f"scheduler.step got a prediction of shape {tuple(model_output.shape)}, which does not match the "
                f"guided transformer rows {tuple(delta.shape)}; this pipeline's call pattern is not supported"
            )
    return delta if sign == 1.0 else delta * sign
