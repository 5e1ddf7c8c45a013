"""Prompt sources for the head search: the bundled default set, PartiPrompts, datasets, local files.

`load_prompts` (`sources`) reads a source (`readers`) and narrows it by column,
category, filter and limit (`selection`) into a `PromptSet` (`promptset`), which
samples, splits into disjoint search and held-out prompts, and describes itself for provenance;
`generation_seeds` gives the fixed per-prompt seeds.
"""

from __future__ import annotations

from .promptset import PromptSet, generation_seeds
from .selection import CATEGORY_COLUMNS, PROMPT_COLUMNS
from .sources import PARTI_DATASET, load_prompts

__all__ = ["PromptSet", "load_prompts", "generation_seeds", "PARTI_DATASET", "PROMPT_COLUMNS", "CATEGORY_COLUMNS"]
