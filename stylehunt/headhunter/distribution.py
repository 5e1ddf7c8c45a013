"""Spreading units of work over the processes of ``accelerate launch`` (or ``torchrun``).

Every process runs the same search and computes the same phases. `Distributed.map` deals a
wave of pending units out with ``PartialState.split_between_processes`` and collects the results
with ``accelerate.utils.gather_object``, in order, so every process holds every score and makes the
same choices. Outside a launcher it is a plain loop in one process.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["Distributed"]


class Distributed:
    """Process group view; a single process when not launched by accelerate/torchrun."""

    def __init__(self) -> None:
        import torch
        from accelerate import PartialState

        # Without cpu=True a CPU-only machine reports a world of 1 even under torchrun.
        self.state = PartialState(cpu=not torch.cuda.is_available())

    @property
    def is_main(self) -> bool:
        return self.state.is_main_process

    @property
    def num_processes(self) -> int:
        return self.state.num_processes

    @property
    def process_index(self) -> int:
        return self.state.process_index

    def map(self, items: list[Any], fn: Callable[[Any], Any]) -> list[Any]:
        """``[fn(x) for x in items]`` with the items dealt out over the processes, gathered in order."""
        if self.num_processes == 1:
            return [fn(x) for x in items]
        from accelerate.utils import gather_object

        with self.state.split_between_processes(list(items)) as mine:
            out = [fn(x) for x in mine]
        return gather_object(out)

    def barrier(self) -> None:
        if self.num_processes > 1:
            self.state.wait_for_everyone()
