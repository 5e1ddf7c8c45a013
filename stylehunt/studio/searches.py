"""A search started from the page: ``stylehunt search`` itself, run as a child process, watched through its run folder.

Running the CLI (not a copy of it) is what makes a studio run folder the CLI's: ``command.json``,
``state.json`` and the lock are written by the same code, so ``stylehunt search --resume RUN``
continues a run the page stopped, and the page resumes one the CLI started. Stopping sends the
child Ctrl-C (SIGINT): the search keeps every finished unit and exits with 130, as in a terminal.
Progress is read from ``state.json`` (rewritten atomically after every unit).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SearchConfigError, StylehuntError
from .folders import Folders

__all__ = ["SearchJob", "RoundPoint", "read_rounds"]

#: Exit status of a search stopped with Ctrl-C (the CLI's 128 + SIGINT).
STOPPED = 130


#: The child's program: the CLI's entry point, with Python's Ctrl-C handler in place before anything else.
_ENTRY = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "from stylehunt.cli import main; sys.exit(main(sys.argv[1:]))")


@dataclass(frozen=True)
class RoundPoint:
    """A finished round as the run state records it: the selected heads so far and their mean score."""

    round: int
    heads: tuple[tuple[int, int], ...]
    score: float


def read_rounds(run_dir: Path) -> tuple[list[RoundPoint], int]:
    """The finished rounds of a run folder and the number of images scored so far (0, 0 before it starts)."""
    from ..headhunter.store import read_state

    state = read_state(run_dir)
    if state is None:
        return [], 0
    phases = state["phases"]
    images = sum(len(u["scores"]) for p in phases.values() for u in p["units"].values())
    points = []
    r = 1
    while f"r{r}.set" in phases and "0" in phases[f"r{r}.set"]["units"]:
        phase = phases[f"r{r}.set"]
        scores = phase["units"]["0"]["scores"]
        points.append(RoundPoint(r, tuple(tuple(a) for a in phase["sets"][0]), sum(scores) / len(scores)))
        r += 1
    return points, images


@dataclass
class SearchJob:
    """One child ``stylehunt search`` on a run folder inside the runs folder."""

    run_dir: Path
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, folders: Folders, env: dict[str, str], *, run: str, model: str, objective: str, style: str,
            prompts: str, rounds: int, per_round: int, strategy: str, steps: int, resolution: int | None,
            device: str | None, dtype: str | None) -> "SearchJob":
        """A new run: ``run`` must name a new or empty folder in the runs folder; prompts one per line (or none)."""
        run_dir = folders.inside(run, root="runs", what="run folder")
        if run_dir == folders.runs:
            raise SearchConfigError("name the run folder", hint="e.g. warm-1 (a new folder in the runs folder)")
        if run_dir.exists() and any(run_dir.iterdir()):
            raise SearchConfigError(f"the run folder {run!r} is in use", hint="resume it, or choose a new name")
        lines = [p.strip() for p in (prompts or "").splitlines() if p.strip()]
        args = ["--model", model, "--objective", objective.strip() or "pickscore", "--style", style or "",
                "--rounds", str(int(rounds)), "--per-round", str(int(per_round)), "--strategy", strategy,
                "--steps", str(int(steps)), "--num-heldout", "0", "--out", str(run_dir)]
        if lines:
            folder = folders.inside("prompts", what="prompts folder")
            folder.mkdir(exist_ok=True)
            # the CLI records this path in command.json, and reads it again on --resume: kept beside the outputs
            prompt_file = folders.inside(f"prompts/{run_dir.name}.txt", what="prompt file")
            from ..files import atomic_write_bytes

            atomic_write_bytes(prompt_file, ("\n".join(lines) + "\n").encode("utf-8"))
            args += ["--prompts", str(prompt_file), "--num-prompts", str(len(lines))]
        if resolution:
            args += ["--resolution", str(int(resolution))]
        for flag, value in (("--device", device), ("--dtype", dtype)):
            if value:
                args += [flag, value]
        return cls(run_dir, args, env)

    @classmethod
    def resume(cls, folders: Folders, env: dict[str, str], run: str) -> "SearchJob":
        run_dir = folders.inside(run, root="runs", what="run folder", exists=True)
        if not (run_dir / "state.json").is_file():
            raise SearchConfigError(f"{run!r} holds no search to resume", hint="start a new search with that name")
        return cls(run_dir, ["--resume", str(run_dir)], env)

    def start(self) -> None:
        # Ctrl-C reaches the child as in a terminal even when the studio was started with SIGINT ignored
        # (a shell's background job): the ignored disposition is inherited, so the child sets Python's own
        command = [sys.executable, "-c", _ENTRY, "search", "--no-progress", *self.args]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=self.env)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Ctrl-C to our own child, by its pid; it saves what it finished and exits."""
        if self.running:
            self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float | None = None) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def outcome(self) -> str:
        """What the finished child said: its summary, or the CLI's ``Error:`` / ``Hint:`` lines."""
        code = self.process.returncode if self.process is not None else None
        if code == 0:
            return "finished: " + "; ".join(line for line in self.output if line.startswith(("heads:", "run folder:")))
        if code in (STOPPED, -signal.SIGINT) and not (self.run_dir / "state.json").is_file():
            # Ctrl-C while the child was still importing (the CLI's boundary not yet in place): nothing began
            return "stopped before the search began; nothing was written, start it again"
        if code in (STOPPED, -signal.SIGINT):
            return f"stopped; resume it with the Resume button or `stylehunt search --resume {self.run_dir}`"
        said = [line for line in self.output if line.startswith(("Error:", "Hint:", "Usage:"))] or self.output[-3:]
        raise StylehuntError(f"the search ended with status {code}: " + " ".join(said))


def clean_env() -> dict[str, str]:
    """The studio's environment when it started: every search child sees the same caches and Hub endpoint."""
    return dict(os.environ)


def result_images(run_dir: Path) -> list[tuple[str, str]]:
    """``(path, caption)`` of the run folder's figures that exist (after the last round)."""
    return [(str(run_dir / f), f) for f in ("curve.png", "grid.png") if (run_dir / f).is_file()]


def describe(points: list[RoundPoint], images: int, rounds: Any) -> str:
    done = f"{len(points)}/{rounds} rounds" if rounds else f"{len(points)} rounds"
    last = f"; best so far {' '.join(f'{l}:{h}' for l, h in points[-1].heads)} ({points[-1].score:.4f})" if points else ""
    return f"{done} finished, {images} images scored{last}"
