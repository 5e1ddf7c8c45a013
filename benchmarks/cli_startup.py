"""CLI cold start: ``stylehunt list`` against ``python -c "import click"``, side by side in one run.

Every command runs in a fresh interpreter (the cost a user pays at each call), interleaved so that
background load hits both alike; the median over repeats is reported. ``import click`` is the floor
any click CLI pays; the target is ``stylehunt list`` within 2x of it. ``stylehunt --help`` and
``stylehunt show`` are printed beside it for reference.

Both sides run from compiled bytecode, as after ``pip install`` (which compiles every module): the
package is byte-compiled first and ``PYTHONDONTWRITEBYTECODE`` is dropped from the environment, so
stylehunt is not charged for compiling its sources while click, installed earlier, is not.

The CPU time (user + system) of each process is reported too: on a machine shared with other work,
wall time mostly measures waiting for a core, CPU time what the process itself costs.

Run:  .venv/bin/python benchmarks/cli_startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "python -c 'import click'": [sys.executable, "-c", "import click"],
    "stylehunt --help": [sys.executable, "-m", "stylehunt", "--help"],
    "stylehunt list": [sys.executable, "-m", "stylehunt", "list"],
    "stylehunt show sd3-medium/paper-l1h10": [sys.executable, "-m", "stylehunt", "show", "sd3-medium/paper-l1h10"],
}
BASELINE, TARGET = "python -c 'import click'", "stylehunt list"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="fresh-interpreter runs per command (median reported)")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="stylehunt-startup-")
    env = {**os.environ, "HOME": home, "HF_HOME": os.path.join(home, "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    import stylehunt

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(stylehunt.__file__)], env=env, check=True)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    cpu: dict[str, list[float]] = {name: [] for name in CASES}
    for name, cmd in CASES.items():  # warm the file cache once, untimed
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    for _ in range(args.repeats):
        for name, cmd in CASES.items():
            start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
            now = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
    base = statistics.median(times[BASELINE])
    print(f"median wall time of a fresh process, {args.repeats} interleaved runs each (HF_HUB_OFFLINE=1)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<40} {med * 1000:8.1f} ms   x{med / base:5.2f}   (min {min(ts) * 1000:.1f}, max {max(ts) * 1000:.1f})")
    cpu_base = statistics.median(cpu[BASELINE])
    print("median CPU time (user + system) of the same processes")
    for name, ts in cpu.items():
        print(f"  {name:<40} {statistics.median(ts) * 1000:8.1f} ms   x{statistics.median(ts) / cpu_base:5.2f}")
    ratio = statistics.median(times[TARGET]) / base
    print(f"startup ratio (stylehunt list / import click): {ratio:.3f}  (target <= 2: {'met' if ratio <= 2 else 'NOT met'})")
    cpu_ratio = statistics.median(cpu[TARGET]) / cpu_base
    print(f"CPU time ratio (stylehunt list / import click): {cpu_ratio:.3f}")


if __name__ == "__main__":
    main()
