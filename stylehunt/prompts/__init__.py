"""Prompt sources for the head search: the bundled default set, PartiPrompts, datasets, local files."""

from __future__ import annotations

from .sources import CATEGORY_COLUMNS, PARTI_DATASET, PROMPT_COLUMNS, PromptSet, generation_seeds, load_prompts

__all__ = ["PromptSet", "load_prompts", "generation_seeds", "PARTI_DATASET", "PROMPT_COLUMNS", "CATEGORY_COLUMNS"]
