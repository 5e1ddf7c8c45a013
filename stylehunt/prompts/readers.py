"""Readers: every prompt source becomes a `Table` (columns and rows) before any selection.

Local files are read through `stylehunt.files.read_regular_file` (regular files only, at most
`MAX_PROMPT_FILE_BYTES`; JSON nesting bounded by `stylehunt.files.load_json`), then parsed
with the standard library (and pyarrow for ``.parquet``); anything else goes
through ``datasets.load_dataset`` (`read_dataset`), after a quick
`stylehunt.hub.repo_status` probe so an unreachable Hub fails at once instead of retrying.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import PromptSourceError
from ..files import load_json, read_regular_file

__all__ = ["Table", "LOCAL_SUFFIXES", "MAX_PROMPT_FILE_BYTES", "read_local", "read_dataset"]

LOCAL_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet")
#: A local prompt file larger than this is refused before it is read (PartiPrompts is 0.2 MB).
MAX_PROMPT_FILE_BYTES = 256 << 20


class Table:
    """Rows of a source as columns, plus row access for callable filters.

    Backed by one of: ``data`` (column name -> values), ``rows`` (one mapping per row) or a
    ``datasets.Dataset``; the selection code sees the same three methods for all of them.
    """

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


def _read_delimited(text: str, delimiter: str) -> Table:
    # TSV has no quoting (fields cannot hold tabs): a prompt that starts with a quote, like
    # PartiPrompts' '"G I G G L E" painted ...', keeps it. CSV uses standard quoting.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    rows = list(reader)
    return Table(list(reader.fieldnames or []), rows=rows)


def _records_table(records: list[Any], where: str) -> Table:
    if all(isinstance(r, str) for r in records):
        return Table(["text"], data={"text": records})
    columns: list[str] = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise PromptSourceError(f"{where}: record {i} is a {type(r).__name__}; expected every record to be an object (or every one a string)")
        for k in r:
            if k not in columns:
                columns.append(k)
    return Table(columns, rows=records)


def _invalid_json(where: str):
    """An error factory for `stylehunt.files.load_json`: ``<where> is not valid JSON (<why>)``."""
    return lambda message, hint=None: PromptSourceError(f"{where} is not valid JSON ({message})", hint=hint)


def read_local(path: Path) -> Table:
    """Read a local prompt file by its suffix (one of `LOCAL_SUFFIXES`) into a `Table`."""
    suffix = path.suffix.lower()
    if suffix not in LOCAL_SUFFIXES:
        raise PromptSourceError(f"Unsupported prompt file type {suffix!r} ({path}); use one of {', '.join(LOCAL_SUFFIXES)}")
    raw = read_regular_file(path, max_bytes=MAX_PROMPT_FILE_BYTES, what=f"prompt file {path}", error=PromptSourceError)
    try:
        if suffix == ".parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError as e:  # pragma: no cover - pyarrow comes with datasets
                raise PromptSourceError("Reading .parquet needs pyarrow", hint="pip install 'stylehunt[search]'") from e
            table = pq.read_table(pa.BufferReader(raw))
            return Table(list(table.column_names), data=table.to_pydict())
        text = raw.decode("utf-8-sig")
        if suffix == ".tsv":
            return _read_delimited(text, "\t")
        if suffix == ".csv":
            return _read_delimited(text, ",")
        if suffix == ".jsonl":
            records = [
                load_json(line, strict=False, error=_invalid_json(f"{path}: line {n}"))
                for n, line in enumerate(text.splitlines(), 1)
                if line.strip()
            ]
            return _records_table(records, str(path))
        if suffix == ".json":
            records = load_json(text, strict=False, error=_invalid_json(str(path)))
            if not isinstance(records, list):
                raise PromptSourceError(f"{path}: expected a JSON list of prompts or of objects, but got a {type(records).__name__}")
            return _records_table(records, str(path))
        return Table(["text"], data={"text": text.splitlines()})  # .txt
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise PromptSourceError(f"Cannot read prompts from {path}: {e}") from e
    except PromptSourceError:
        raise
    except Exception as e:  # pyarrow errors for a corrupt parquet file, ...
        raise PromptSourceError(f"Cannot read prompts from {path}: {type(e).__name__}: {e}") from e


def read_dataset(kwargs: dict[str, Any], *, hint: str | None) -> Table:
    """``datasets.load_dataset(**kwargs)`` with an offline check first (no minutes of retries)."""
    from .. import hub

    repo = str(kwargs.get("path", ""))
    is_hub_repo = "/" in repo and not os.path.exists(repo) and repo not in {"csv", "json", "parquet", "text"}
    if is_hub_repo:
        status, reason = hub.repo_status(repo, repo_type="dataset")
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
    kwargs = {"cache_dir": str(hub.datasets_cache_dir()), **kwargs}
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
    return Table(list(ds.column_names), dataset=ds)
