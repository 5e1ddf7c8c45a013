"""Selection: which column holds the prompts, and which rows to keep (category, filter, limit).

Errors name the source and list what is there: the available columns or categories, with the
closest match when a name is misspelt.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any, Callable, Mapping, Sequence

from ..errors import PromptSourceError
from .promptset import check_count
from .readers import Table

__all__ = ["select_prompts", "PROMPT_COLUMNS", "CATEGORY_COLUMNS"]

logger = logging.getLogger(__name__)

#: Column names tried, in order, when ``column`` is not given.
PROMPT_COLUMNS = ("prompt", "Prompt", "text")
#: Column names tried, in order, for ``category=`` when ``category_column`` is not given.
CATEGORY_COLUMNS = ("Category", "category")


def _pick_column(table: Table, column: str | None, where: str) -> str:
    if column is not None:
        if column not in table.columns:
            raise PromptSourceError(
                f"{where} has no column {column!r}; available columns: {', '.join(table.columns) or '(none)'}"
                + _did_you_mean(column, table.columns),
                param="column",
            )
        return column
    for name in PROMPT_COLUMNS:
        if name in table.columns:
            return name
    raise PromptSourceError(
        f"{where} has no prompt column ({' / '.join(PROMPT_COLUMNS)}); available columns: {', '.join(table.columns) or '(none)'}",
        hint="name one of them as the prompt column",
        param="column",
    )


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def _parse_filter(flt: Any, table: Table, where: str) -> Callable[[int], bool] | None:
    if flt is None:
        return None
    if isinstance(flt, str):
        col, sep, val = flt.partition("=")
        if not sep or not col.strip():
            raise PromptSourceError(f"Expected a filter like 'Column=value', but got {flt!r}")
        flt = {col.strip(): val.strip()}
    if isinstance(flt, Mapping):
        checks = []
        for col, allowed in flt.items():
            if col not in table.columns:
                raise PromptSourceError(f"Filter column {col!r} is not in {where}; available columns: {', '.join(table.columns)}" + _did_you_mean(col, table.columns))
            values = table.column(col)
            allowed_set = {str(a) for a in _as_list(allowed)}
            checks.append([str(v) in allowed_set for v in values])
        return lambda i: all(c[i] for c in checks)
    if callable(flt):
        def keep(i: int) -> bool:
            return bool(flt(table.row(i)))

        return keep
    raise PromptSourceError(f"Expected `filter` to be a dict {{column: value(s)}}, a 'Column=value' string or a callable, but got {flt!r}")


def _category_column(table: Table, category_column: str | None, where: str) -> str | None:
    if category_column is not None:
        if category_column not in table.columns:
            raise PromptSourceError(f"{where} has no category column {category_column!r}; available columns: {', '.join(table.columns)}")
        return category_column
    return next((c for c in CATEGORY_COLUMNS if c in table.columns), None)


def select_prompts(
    table: Table, *, where: str, column: str | None, category: Any, category_column: str | None, filter: Any, limit: int | None
) -> tuple[list[str], list[str | None]]:
    """``(prompts, categories)`` of ``table`` after ``category``, ``filter`` and ``limit`` (see `load_prompts`).

    ``where`` names the source in error messages. Blank and non-text prompts are dropped (logged).
    """
    prompt_col = _pick_column(table, column, where)
    cat_col = _category_column(table, category_column, where)
    texts = table.column(prompt_col)
    cats: list[Any] = table.column(cat_col) if cat_col else [None] * len(texts)
    keep = [True] * len(texts)

    if category is not None:
        if cat_col is None:
            raise PromptSourceError(
                f"category={category!r} given but {where} has no category column ({' / '.join(CATEGORY_COLUMNS)});"
                f" available columns: {', '.join(table.columns)}",
                hint="pass category_column=NAME, or drop category",
            )
        available = sorted({str(c) for c in cats if c is not None and str(c).strip()})
        by_lower = {a.lower(): a for a in available}
        wanted = set()
        for c in _as_list(category):
            match = by_lower.get(str(c).strip().lower())
            if match is None:
                raise PromptSourceError(
                    f"Unknown category {c!r} in {where}; available categories: {', '.join(available)}" + _did_you_mean(str(c), available)
                )
            wanted.add(match)
        keep = [k and c is not None and str(c) in wanted for k, c in zip(keep, cats)]

    check = _parse_filter(filter, table, where)
    if check is not None:
        keep = [k and check(i) for i, k in enumerate(keep)]

    prompts: list[str] = []
    categories: list[str | None] = []
    dropped = 0
    for k, t, c in zip(keep, texts, cats):
        if not k:
            continue
        if not isinstance(t, str) or not t.strip():
            dropped += 1
            continue
        prompts.append(t.strip())
        categories.append(None if c is None or not str(c).strip() else str(c).strip())
    if dropped:
        logger.warning("%s: dropped %d blank or non-text prompt(s) in column %r", where, dropped, prompt_col)
    if limit is not None:
        check_count(limit, "limit", minimum=1)
        prompts, categories = prompts[:limit], categories[:limit]
    return prompts, categories
