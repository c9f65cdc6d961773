"""Where the generator's CPU goes: py-spy samples the engine (or Locust's paced loop) at a fixed GET /ping rate,
and the functions are ranked by own time (the share of samples in which each is the innermost frame).

The generator is pinned to one core and the embedded simulator to the other, as in bench/calls.py; py-spy
samples `--seconds` s of a steady stretch (after `--after` s) at 500 Hz, idle frames left out, so the shares
are of the time the generator was busy. Needs py-spy (`pip install py-spy`; it reads the process's memory, so root or
ptrace permission).

    python bench/hotspots.py [--loop engine|paced] [--rate 1200] [--grid 20ms] [--top 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GENERATOR_CPU,
    SIMULATOR_CPU,
    child_env,
    engine_command,
    generator_process,
    paced_command,
    paced_env,
)

from fixload.simulator.process import SimulatorProcess


def own_time(raw: str) -> tuple[Counter[str], int]:
    """py-spy's raw (collapsed) stacks → samples per innermost frame, and the samples in all."""
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frame = stack.split(";")[-1]
        name, _, where = frame.partition(" (")
        where = where.rstrip(")")
        for marker in ("site-packages/", "/fixload/", "/bench/"):
            if marker in where:
                where = marker.strip("/").replace("site-packages", "") + where.split(marker, 1)[1]
                break
        own[f"{where.lstrip('/').rsplit(':', 1)[0]}:{name}"] += n
    return own, total


def profile(
    loop: str, rate: int, users: int, after: float, seconds: float, grid: str | None = None
) -> tuple[Counter[str], int]:
    """py-spy's own time of the engine (at `settings.startGrid` `grid`; None: the default) or the paced loop."""
    tmp = Path(tempfile.mkdtemp(prefix="fixload-hotspots-"))
    run_s = int(after + seconds + 6)
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        env = child_env(sim.env)
        if loop == "engine":
            command = engine_command(tmp, sim.base_url, rate, run_s, 200, start_grid=grid)
        else:
            command, env = paced_command(tmp, sim.base_url, users, run_s), paced_env(env, rate, users)
        with generator_process(command, env, tmp / "generator.log", GENERATOR_CPU) as proc:
            time.sleep(after)
            out = tmp / "raw.txt"
            subprocess.run(
                ["py-spy", "record", "--pid", str(proc.pid), "--duration", str(int(seconds)), "--rate", "500",
                 "--format", "raw", "--nonblocking", "-o", str(out)],
                check=True, capture_output=True, timeout=seconds + 60,
            )  # fmt: skip
    return own_time(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loop", choices=("engine", "paced"), default="engine")
    parser.add_argument("--rate", type=int, default=1200, help="GET /ping per second")
    parser.add_argument("--users", type=int, default=50, help="the paced loop's users")
    parser.add_argument("--after", type=float, default=4.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--grid", help="the engine's settings.startGrid (default: the profile's default)")
    args = parser.parse_args(argv)
    own, total = profile(args.loop, args.rate, args.users, args.after, args.seconds, args.grid)
    grid = f", startGrid {args.grid}" if args.grid and args.loop == "engine" else ""
    print(f"{args.loop}{grid} at {args.rate}/s: {total} samples over {args.seconds:g} s; own time, top {args.top}")
    for name, n in own.most_common(args.top):
        print(f"  {100 * n / total:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
