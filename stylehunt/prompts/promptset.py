"""A set of content prompts and what the search does with it: de-duplicate, sample, split, seed.

`PromptSet` holds the prompts with their categories and a provenance string that records
every filter, sample and split applied; `PromptSet.split` gives disjoint search and
held-out prompts, and `generation_seeds` the fixed per-prompt seeds (the paper uses 0..M-1).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from ..errors import PromptSourceError

__all__ = ["PromptSet", "generation_seeds", "check_count"]


def check_count(value: Any, what: str, *, minimum: int) -> int:
    """``value`` if it is an integer >= ``minimum`` (not a bool), else `PromptSourceError` naming ``what``."""
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
        check_count(seed, "seed", minimum=0)
        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        return order

    def sample(self, n: int, seed: int = 0) -> "PromptSet":
        """``n`` prompts drawn without replacement, in a seeded random order (same seed, same draw).

        ``sample(n, seed)`` of a set without repeats equals ``split(n, k, seed)[0]`` for any ``k``.
        """
        check_count(n, "n", minimum=1)
        if n > len(self):
            raise PromptSourceError(f"Cannot sample {n} prompts from {len(self)} ({self.source}); ask for at most {len(self)}")
        return self._take(self._order(seed)[:n], f"sample(n={n}, seed={seed})")

    def split(self, num_search: int, num_heldout: int, seed: int = 0) -> tuple["PromptSet", "PromptSet"]:
        """Disjoint ``(search, heldout)`` sets drawn from the de-duplicated prompts.

        The search prompts are the first ``num_search`` of one seeded shuffle and the held-out ones
        the next ``num_heldout``, so changing ``num_heldout`` never changes the search prompts.
        """
        check_count(num_search, "num_search", minimum=1)
        check_count(num_heldout, "num_heldout", minimum=0)
        unique = self.dedupe()
        if num_search + num_heldout > len(unique):
            raise PromptSourceError(
                f"Asked for {num_search} search + {num_heldout} held-out prompts but {self.source or 'the set'} has only"
                f" {len(unique)} distinct prompts; lower `num_search` or `num_heldout`",
                param="num_search",
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
    check_count(n, "n", minimum=0)
    check_count(base_seed, "base_seed", minimum=0)
    return list(range(base_seed, base_seed + n))
