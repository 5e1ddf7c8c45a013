"""Where content prompts come from: `load_prompts` turns a source into a `promptset.PromptSet`.

Reading is `readers`' job and narrowing `selection`'s; this module picks the reader and labels the
result for provenance. docs/objectives.md lists the sources.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import PromptSourceError
from .promptset import PromptSet, check_count
from .readers import LOCAL_SUFFIXES, Table, read_dataset, read_local
from .selection import select_prompts

__all__ = ["load_prompts", "PARTI_DATASET"]

logger = logging.getLogger(__name__)

PARTI_DATASET = "nateraw/parti-prompts"
_PARTI_HINT = (
    "download PartiPrompts.tsv (github.com/google-research/parti) and give its path as the prompt source"
    " instead of 'parti'"
)


def _describe_options(**options: Any) -> str:
    parts = [f"{k}={v!r}" if not isinstance(v, str) else f"{k}={v}" for k, v in options.items() if v is not None]
    return f" ({', '.join(parts)})" if parts else ""


def load_prompts(
    source: "str | os.PathLike[str] | Mapping[str, Any] | Sequence[str]" = "default",
    *,
    column: str | None = None,
    split: str = "train",
    category: "str | Sequence[str] | None" = None,
    filter: "Mapping[str, Any] | str | Callable[[dict[str, Any]], bool] | None" = None,
    limit: int | None = None,
    category_column: str | None = None,
) -> PromptSet:
    """Load content prompts. Errors (`stylehunt.errors.PromptSourceError`) come before any work.

    Args:
        source: ``"default"``, ``"parti"``, ``"hf:OWNER/NAME"``, a dict of ``datasets.load_dataset``
            arguments, a local file path (.txt/.csv/.tsv/.jsonl/.json/.parquet), or a list of prompts.
        column: the prompt column (default: the first of ``prompt``, ``Prompt``, ``text``).
        split: dataset split for Hub sources.
        category: keep only these categories (case-insensitive); unknown ones are an error that lists
            the available categories.
        filter: ``{column: value or [values]}``, ``"Column=value"`` or ``fn(row_dict) -> bool``.
        limit: keep the first ``limit`` prompts after filtering.
        category_column: the category column (default: ``Category`` or ``category`` if present).

    Example:
        >>> ps = load_prompts("default", category="Animals")
        >>> len(ps), ps.categories[0]
        (5, 'Animals')

    ``"default"`` is 40 prompts in 8 categories written for stylehunt
    (``stylehunt/prompts/data/default_prompts.tsv``); ``"parti"`` is the Hub dataset
    ``nateraw/parti-prompts`` (offline, pass the TSV path); a dict is passed to
    ``datasets.load_dataset``. A ``.tsv`` has no quoting (quotes are kept as text); ``.csv`` has the
    standard one. Blank and missing prompts are dropped.
    """
    if limit is not None:
        check_count(limit, "limit", minimum=1)
    options = dict(column=column, category=category, filter=filter if not callable(filter) else getattr(filter, "__name__", "callable"), limit=limit)
    select = dict(column=column, category=category, category_column=category_column, filter=filter, limit=limit)

    if isinstance(source, Mapping):
        kwargs = dict(source)
        if "path" not in kwargs:
            raise PromptSourceError(f"A dict prompt source is datasets.load_dataset arguments and needs 'path'; got keys {sorted(kwargs)}")
        kwargs.setdefault("split", split)
        table = read_dataset(kwargs, hint=None)
        where = f"dataset {kwargs['path']!r}"
        label = f"hf:{kwargs['path']}" + (f"[{kwargs['name']}]" if kwargs.get("name") else "") + f":{kwargs['split']}"
    elif isinstance(source, (str, os.PathLike)):
        text = os.fspath(source).strip()
        if not text:
            raise PromptSourceError("Expected a prompt source ('default', 'parti', 'hf:OWNER/NAME' or a file path), but got an empty string")
        if text == "default":
            from importlib import resources

            ref = resources.files("stylehunt.prompts").joinpath("data", "default_prompts.tsv")
            with resources.as_file(ref) as path:
                table = read_local(Path(path))
            where, label = "the default prompt set", "default"
        elif text == "parti":
            table = read_dataset({"path": PARTI_DATASET, "split": split}, hint=_PARTI_HINT)
            where, label = f"PartiPrompts ({PARTI_DATASET})", "parti"
            select["column"] = column or "Prompt"
        elif text.startswith("hf:"):
            repo = text[3:].strip()
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise PromptSourceError(f"Expected hf:OWNER/NAME, but got {text!r}")
            table = read_dataset({"path": repo, "split": split}, hint=None)
            where, label = f"dataset {repo!r}", f"hf:{repo}:{split}"
        else:
            path = Path(os.path.expanduser(text))
            if not path.exists():
                hint = f"for a Hub dataset write hf:{text}" if text.count("/") == 1 and not path.suffix else None
                raise PromptSourceError(
                    f"Prompt source {text!r} is not 'default', 'parti', 'hf:OWNER/NAME' or an existing file", hint=hint
                )
            if path.is_dir():
                raise PromptSourceError(f"Prompt source {text!r} is a folder; pass a file ({', '.join(LOCAL_SUFFIXES)})")
            table = read_local(path)
            where, label = f"{path}", text
            if path.suffix.lower() == ".txt" and (column not in (None, "text") or category is not None or category_column):
                raise PromptSourceError(f"{path} is plain text (one prompt per line): it has no columns or categories; drop column/category")
    elif isinstance(source, Sequence):
        prompts = list(source)
        bad = [p for p in prompts if not isinstance(p, str)]
        if bad:
            raise PromptSourceError(f"A list prompt source must hold strings, but got {bad[0]!r}")
        table = Table(["text"], data={"text": prompts})
        where, label = "the given list", "list"
    else:
        raise PromptSourceError(f"Expected a prompt source name, path, dict or list of strings, but got {type(source).__name__}")

    prompts, categories = select_prompts(table, where=where, **select)
    described = label + _describe_options(**options)
    if not prompts:
        raise PromptSourceError(
            f"No prompts in {where}" + (" after filtering" + _describe_options(**options) if any(v is not None for v in options.values()) else ""),
            hint="check the column, category and filter, or use another source",
        )
    logger.info("loaded %d prompts from %s", len(prompts), described)
    return PromptSet(prompts, categories, described)
