"""Content prompts for the head search: where they come from, sampling, held-out splits, seeds.

Sources (:func:`load_prompts`):

==========================  ===================================================================
``"default"``               40 varied content prompts in 8 categories written for stylehunt
                            (``stylehunt/prompts/data/default_prompts.tsv``, columns Prompt, Category).
``"parti"``                 PartiPrompts from the Hub dataset ``nateraw/parti-prompts`` (column
                            ``Prompt``, categories in ``Category``). Offline, pass the TSV path.
``"hf:OWNER/NAME"``         any Hugging Face ``datasets`` source, with ``split``/``column``; a dict
                            ``{"path": ..., "name": ..., "data_files": ..., "split": ...}`` is passed
                            to ``datasets.load_dataset`` for anything more specific.
a local file                ``.txt`` (one prompt per line), ``.csv`` (standard quoting), ``.tsv``
                            (no quoting: quotes are kept as text), ``.jsonl``, ``.json`` (a list),
                            ``.parquet``. Read locally with the standard library / pyarrow.
a list of strings           used as is.
==========================  ===================================================================

Every source can be narrowed with ``category=`` (values of the category column, case-insensitive),
``filter=`` (a dict ``{column: value or [values]}``, a string ``"Column=value"``, or a callable on
the row dict) and ``limit=`` (the first N after filtering). Blank and missing prompts are dropped.

:meth:`PromptSet.split` gives disjoint search and held-out prompts (identical texts are merged
first); :func:`generation_seeds` gives the fixed per-prompt seeds (the paper uses 0..M-1).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..errors import PromptSourceError

__all__ = ["PromptSet", "load_prompts", "generation_seeds", "PARTI_DATASET", "PROMPT_COLUMNS", "CATEGORY_COLUMNS"]

logger = logging.getLogger(__name__)

PARTI_DATASET = "nateraw/parti-prompts"
#: Column names tried, in order, when ``column`` is not given.
PROMPT_COLUMNS = ("prompt", "Prompt", "text")
#: Column names tried, in order, for ``category=`` when ``category_column`` is not given.
CATEGORY_COLUMNS = ("Category", "category")
_LOCAL_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet")
_PARTI_HINT = (
    "download PartiPrompts.tsv (github.com/google-research/parti) and pass its path: "
    "load_prompts('/path/to/PartiPrompts.tsv') or --prompts /path/to/PartiPrompts.tsv"
)


# ------------------------------------------------------------------------------------------------
# PromptSet
# ------------------------------------------------------------------------------------------------


def _check_count(value: Any, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PromptSourceError(f"Expected `{what}` to be an integer >= {minimum}, but got {value!r}")
    return value


@dataclass
class PromptSet:
    """Content prompts with their categories (``None`` where unknown) and where they came from.

    Attributes:
        prompts: the prompt texts, stripped, none empty.
        categories: one category (or ``None``) per prompt; defaults to all ``None``.
        source: a readable description of the origin, for provenance (``"parti (category=Animals)"``).
    """

    prompts: list[str]
    categories: list[str | None] = field(default=None)  # type: ignore[assignment]
    source: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.prompts, str) or not isinstance(self.prompts, Sequence):
            raise PromptSourceError(f"Expected `prompts` to be a list of strings, but got {type(self.prompts).__name__}")
        prompts = []
        for i, p in enumerate(self.prompts):
            if not isinstance(p, str) or not p.strip():
                raise PromptSourceError(f"prompts[{i}]: expected a non-empty string, but got {p!r}")
            prompts.append(p.strip())
        self.prompts = prompts
        if self.categories is None:
            self.categories = [None] * len(prompts)
        else:
            self.categories = [None if c is None else str(c) for c in self.categories]
        if len(self.categories) != len(self.prompts):
            raise PromptSourceError(f"Got {len(self.prompts)} prompts but {len(self.categories)} categories; give one per prompt")

    def __len__(self) -> int:
        return len(self.prompts)

    def __iter__(self) -> Iterator[str]:
        return iter(self.prompts)

    def _take(self, indices: Sequence[int], note: str) -> "PromptSet":
        return PromptSet(
            [self.prompts[i] for i in indices], [self.categories[i] for i in indices], f"{self.source} | {note}" if self.source else note
        )

    def dedupe(self) -> "PromptSet":
        """Drop repeated prompt texts, keeping the first occurrence (and its category)."""
        seen: set[str] = set()
        keep = [i for i, p in enumerate(self.prompts) if not (p in seen or seen.add(p))]
        if len(keep) == len(self):
            return self
        return self._take(keep, f"dedupe({len(self) - len(keep)} repeats dropped)")

    def _order(self, seed: int) -> list[int]:
        _check_count(seed, "seed", minimum=0)
        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        return order

    def sample(self, n: int, seed: int = 0) -> "PromptSet":
        """``n`` prompts drawn without replacement, in a seeded random order (same seed, same draw).

        ``sample(n, seed)`` of a set without repeats equals ``split(n, k, seed)[0]`` for any ``k``.
        """
        _check_count(n, "n", minimum=1)
        if n > len(self):
            raise PromptSourceError(f"Cannot sample {n} prompts from {len(self)} ({self.source}); ask for at most {len(self)}")
        return self._take(self._order(seed)[:n], f"sample(n={n}, seed={seed})")

    def split(self, num_search: int, num_heldout: int, seed: int = 0) -> tuple["PromptSet", "PromptSet"]:
        """Disjoint ``(search, heldout)`` sets drawn from the de-duplicated prompts.

        The search prompts are the first ``num_search`` of one seeded shuffle and the held-out ones
        the next ``num_heldout``, so changing ``num_heldout`` never changes the search prompts.
        """
        _check_count(num_search, "num_search", minimum=1)
        _check_count(num_heldout, "num_heldout", minimum=0)
        unique = self.dedupe()
        if num_search + num_heldout > len(unique):
            raise PromptSourceError(
                f"Asked for {num_search} search + {num_heldout} held-out prompts but {self.source or 'the set'} has only"
                f" {len(unique)} distinct prompts; lower --num-prompts or the held-out count"
            )
        order = unique._order(seed)
        search = unique._take(order[:num_search], f"search(n={num_search}, seed={seed})")
        heldout = unique._take(order[num_search : num_search + num_heldout], f"heldout(n={num_heldout}, seed={seed})")
        return search, heldout

    def category_counts(self) -> dict[str, int]:
        """Prompts per category (``None`` excluded), sorted by name."""
        counts: dict[str, int] = {}
        for c in self.categories:
            if c is not None:
                counts[c] = counts.get(c, 0) + 1
        return dict(sorted(counts.items()))

    def describe(self) -> dict[str, Any]:
        """JSON-able provenance: source, count, the prompts (and categories), and a sha256 of the texts."""
        out: dict[str, Any] = {
            "source": self.source,
            "count": len(self),
            "sha256": hashlib.sha256("\n".join(self.prompts).encode("utf-8")).hexdigest(),
            "prompts": list(self.prompts),
        }
        if any(c is not None for c in self.categories):
            out["categories"] = list(self.categories)
        return out


def generation_seeds(n: int, base_seed: int = 0) -> list[int]:
    """Fixed per-prompt generation seeds ``base_seed, base_seed + 1, ..., base_seed + n - 1``.

    Prompt ``i`` is always generated with seed ``base_seed + i`` (the paper: seeds 0..M-1), so every
    candidate head set is compared on the same noise.
    """
    _check_count(n, "n", minimum=0)
    _check_count(base_seed, "base_seed", minimum=0)
    return list(range(base_seed, base_seed + n))


# ------------------------------------------------------------------------------------------------
# Tables: one small interface over local files and datasets
# ------------------------------------------------------------------------------------------------


class _Table:
    """Rows of a source as columns, plus row access for callable filters."""

    def __init__(self, columns: list[str], data: Mapping[str, Sequence[Any]] | None = None, rows: Sequence[Mapping[str, Any]] | None = None, dataset: Any = None):
        self.columns = columns
        self._data = data
        self._rows = rows
        self._dataset = dataset

    def __len__(self) -> int:
        if self._dataset is not None:
            return len(self._dataset)
        if self._rows is not None:
            return len(self._rows)
        return len(next(iter(self._data.values()))) if self._data else 0

    def column(self, name: str) -> list[Any]:
        if self._dataset is not None:
            return list(self._dataset[name])
        if self._rows is not None:
            return [row.get(name) for row in self._rows]
        return list(self._data[name])

    def row(self, i: int) -> dict[str, Any]:
        if self._dataset is not None:
            return dict(self._dataset[i])
        if self._rows is not None:
            return dict(self._rows[i])
        return {c: self._data[c][i] for c in self.columns}


def _read_delimited(path: Path, delimiter: str) -> _Table:
    # TSV has no quoting (fields cannot hold tabs): a prompt that starts with a quote, like
    # PartiPrompts' '"G I G G L E" painted ...', keeps it. CSV uses standard quoting.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, delimiter=delimiter, quoting=quoting)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    return _Table(columns, rows=rows)


def _records_table(records: list[Any], where: str) -> _Table:
    if all(isinstance(r, str) for r in records):
        return _Table(["text"], data={"text": records})
    columns: list[str] = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise PromptSourceError(f"{where}: record {i} is a {type(r).__name__}; expected every record to be an object (or every one a string)")
        for k in r:
            if k not in columns:
                columns.append(k)
    return _Table(columns, rows=records)


def _read_local(path: Path) -> _Table:
    suffix = path.suffix.lower()
    try:
        if suffix == ".tsv":
            return _read_delimited(path, "\t")
        if suffix == ".csv":
            return _read_delimited(path, ",")
        if suffix == ".jsonl":
            records = []
            with path.open(encoding="utf-8-sig") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            records.append(json.loads(line))
                        except json.JSONDecodeError as e:
                            raise PromptSourceError(f"{path}: line {n} is not valid JSON ({e.msg})") from e
            return _records_table(records, str(path))
        if suffix == ".json":
            try:
                records = json.loads(path.read_text(encoding="utf-8-sig"))
            except json.JSONDecodeError as e:
                raise PromptSourceError(f"{path} is not valid JSON ({e.msg} at line {e.lineno})") from e
            if not isinstance(records, list):
                raise PromptSourceError(f"{path}: expected a JSON list of prompts or of objects, but got a {type(records).__name__}")
            return _records_table(records, str(path))
        if suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError as e:  # pragma: no cover - pyarrow comes with datasets
                raise PromptSourceError("Reading .parquet needs pyarrow", hint="pip install 'stylehunt[search]'") from e
            table = pq.read_table(path)
            return _Table(list(table.column_names), data=table.to_pydict())
        if suffix == ".txt":
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            return _Table(["text"], data={"text": lines})
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise PromptSourceError(f"Cannot read prompts from {path}: {e}") from e
    except PromptSourceError:
        raise
    except Exception as e:  # pyarrow errors for a corrupt parquet file, ...
        raise PromptSourceError(f"Cannot read prompts from {path}: {type(e).__name__}: {e}") from e
    raise PromptSourceError(f"Unsupported prompt file type {suffix!r} ({path}); use one of {', '.join(_LOCAL_SUFFIXES)}")


def _datasets_cache_dir() -> str:
    """HF_DATASETS_CACHE / HF_HOME, re-read now (datasets reads them at import)."""
    from ..objectives.scorers import _hf_home

    return os.path.expanduser(os.environ.get("HF_DATASETS_CACHE") or os.path.join(_hf_home(), "datasets"))


def _read_hub(kwargs: dict[str, Any], *, hint: str | None) -> _Table:
    """``datasets.load_dataset(**kwargs)`` with an offline check first (no minutes of retries)."""
    from ..objectives.scorers import _hub_status

    repo = str(kwargs.get("path", ""))
    is_hub_repo = "/" in repo and not os.path.exists(repo) and repo not in {"csv", "json", "parquet", "text"}
    if is_hub_repo:
        status, reason = _hub_status(repo, repo_type="dataset")
        if status == "missing":
            raise PromptSourceError(f"Prompt dataset {repo!r} is not available: {reason}", hint=hint or "check the dataset id")
        if status == "cache-only":
            import datasets.config

            if not datasets.config.HF_HUB_OFFLINE:  # datasets would retry each file for ~30 s
                raise PromptSourceError(
                    f"Prompt dataset {repo!r} cannot be loaded: {reason}",
                    hint=hint or "set HF_HUB_OFFLINE=1 before starting Python to use a cached copy, or pass a local file",
                )
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is in the search extra
        raise PromptSourceError("Loading prompts from a datasets source needs `datasets`", hint="pip install 'stylehunt[search]'") from e
    kwargs = {"cache_dir": _datasets_cache_dir(), **kwargs}
    try:
        ds = datasets.load_dataset(**kwargs)
    except Exception as e:  # ConnectionError, FileNotFoundError, DatasetNotFoundError, ValueError (bad split), ...
        first = (str(e).strip().splitlines() or [""])[0]
        raise PromptSourceError(
            f"Cannot load prompt dataset {repo or kwargs!r} (split={kwargs.get('split')!r}): {type(e).__name__}: {first}",
            hint=hint or "check the dataset id and split; offline, download the data and pass a local file",
        ) from e
    if isinstance(ds, Mapping):  # a DatasetDict: no split was given
        raise PromptSourceError(f"Prompt dataset {repo!r} has splits {sorted(ds)}; pass split=...")
    return _Table(list(ds.column_names), dataset=ds)


# ------------------------------------------------------------------------------------------------
# Selection
# ------------------------------------------------------------------------------------------------


def _pick_column(table: _Table, column: str | None, where: str) -> str:
    if column is not None:
        if column not in table.columns:
            raise PromptSourceError(
                f"{where} has no column {column!r}; available columns: {', '.join(table.columns) or '(none)'}"
                + _did_you_mean(column, table.columns)
            )
        return column
    for name in PROMPT_COLUMNS:
        if name in table.columns:
            return name
    raise PromptSourceError(
        f"{where} has no prompt column ({' / '.join(PROMPT_COLUMNS)}); available columns: {', '.join(table.columns) or '(none)'}",
        hint="pass column=NAME (--prompt-column NAME)",
    )


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def _parse_filter(flt: Any, table: _Table, where: str) -> Callable[[int], bool] | None:
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


def _category_column(table: _Table, category_column: str | None, where: str) -> str | None:
    if category_column is not None:
        if category_column not in table.columns:
            raise PromptSourceError(f"{where} has no category column {category_column!r}; available columns: {', '.join(table.columns)}")
        return category_column
    return next((c for c in CATEGORY_COLUMNS if c in table.columns), None)


def _select(
    table: _Table, *, where: str, column: str | None, category: Any, category_column: str | None, filter: Any, limit: int | None
) -> tuple[list[str], list[str | None]]:
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
        _check_count(limit, "limit", minimum=1)
        prompts, categories = prompts[:limit], categories[:limit]
    return prompts, categories


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
    """Load content prompts. Errors (:class:`~stylehunt.errors.PromptSourceError`) come before any work.

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
    """
    if limit is not None:
        _check_count(limit, "limit", minimum=1)
    options = dict(column=column, category=category, filter=filter if not callable(filter) else getattr(filter, "__name__", "callable"), limit=limit)
    select = dict(column=column, category=category, category_column=category_column, filter=filter, limit=limit)

    if isinstance(source, Mapping):
        kwargs = dict(source)
        if "path" not in kwargs:
            raise PromptSourceError(f"A dict prompt source is datasets.load_dataset arguments and needs 'path'; got keys {sorted(kwargs)}")
        kwargs.setdefault("split", split)
        table = _read_hub(kwargs, hint=None)
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
                table = _read_local(Path(path))
            where, label = "the default prompt set", "default"
        elif text == "parti":
            table = _read_hub({"path": PARTI_DATASET, "split": split}, hint=_PARTI_HINT)
            where, label = f"PartiPrompts ({PARTI_DATASET})", "parti"
            select["column"] = column or "Prompt"
        elif text.startswith("hf:"):
            repo = text[3:].strip()
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise PromptSourceError(f"Expected hf:OWNER/NAME, but got {text!r}")
            table = _read_hub({"path": repo, "split": split}, hint=None)
            where, label = f"dataset {repo!r}", f"hf:{repo}:{split}"
        else:
            path = Path(os.path.expanduser(text))
            if not path.exists():
                hint = f"for a Hub dataset write hf:{text}" if text.count("/") == 1 and not path.suffix else None
                raise PromptSourceError(
                    f"Prompt source {text!r} is not 'default', 'parti', 'hf:OWNER/NAME' or an existing file", hint=hint
                )
            if path.is_dir():
                raise PromptSourceError(f"Prompt source {text!r} is a folder; pass a file ({', '.join(_LOCAL_SUFFIXES)})")
            table = _read_local(path)
            where, label = f"{path}", text
            if path.suffix.lower() == ".txt" and (column not in (None, "text") or category is not None or category_column):
                raise PromptSourceError(f"{path} is plain text (one prompt per line): it has no columns or categories; drop column/category")
    elif isinstance(source, Sequence):
        prompts = list(source)
        bad = [p for p in prompts if not isinstance(p, str)]
        if bad:
            raise PromptSourceError(f"A list prompt source must hold strings, but got {bad[0]!r}")
        table = _Table(["text"], data={"text": prompts})
        where, label = "the given list", "list"
    else:
        raise PromptSourceError(f"Expected a prompt source name, path, dict or list of strings, but got {type(source).__name__}")

    prompts, categories = _select(table, where=where, **select)
    described = label + _describe_options(**options)
    if not prompts:
        raise PromptSourceError(
            f"No prompts in {where}" + (" after filtering" + _describe_options(**options) if any(v is not None for v in options.values()) else ""),
            hint="check the column, category and filter, or use another source",
        )
    logger.info("loaded %d prompts from %s", len(prompts), described)
    return PromptSet(prompts, categories, described)
