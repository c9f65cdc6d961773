"""The `fixload compare` drill of issue 27: A/A and A/B pairs against one simulator, and the history of the runs.

    python scripts/compare_drill.py OUT_DIR [--pairs 3] [--profile tests/profiles/compare-drill.json]

One `fixload serve` (loopback, the `staging` preset's latencies x `--base-scale`) serves every run, so the
target is the same experiment throughout; faults change between runs over its admin API. Each pair runs back
to back: A/A (same latencies), A/B +30 % (booking_flow's latencies x1.3), A/B +3 % (x1.03); then a run at
multiplier 2 against the last A. Every `fixload compare` output goes to OUT_DIR/*.txt and is printed with
its exit code; OUT_DIR/runs keeps the summaries for `fixload history`. Each run is the 24 s drill profile
(~35 s with start-up).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixload.simulator.process import SimulatorProcess  # noqa: E402

FLOWS = ("booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow")


def scaled(base: float, booking: float = 1.0) -> dict[str, object]:
    """The staging latencies x `base` for every flow (long next to what a busy CPU adds), booking's x `booking` more."""
    return {"preset": "staging", "scale": {flow: base * (booking if flow == "booking_flow" else 1.0) for flow in FLOWS}}


def fixload(*argv: str, env: dict[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixload", *argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--profile", default="tests/profiles/compare-drill.json")
    parser.add_argument("--base-scale", type=float, default=2.0, help="staging latencies x this for every run")
    args = parser.parse_args()
    runs = args.out / "runs"
    shutil.rmtree(args.out, ignore_errors=True)
    runs.mkdir(parents=True)
    counter = iter(range(1, 1000))

    with SimulatorProcess(seed=27) as sim:
        env = {**os.environ, **sim.env, "PYTHONPATH": str(ROOT)}

        def run(label: str, fault: dict[str, object], *extra: str) -> Path:
            sim.clear_faults()
            sim.add_fault(fault)
            path = runs / f"{next(counter):02d}-{label}.json"
            done = fixload("run", "--profile", args.profile, "--summary", str(path), *extra, env=env)
            print(f"run {path.name}: exit {done.returncode}", flush=True)
            if not path.exists():
                print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
                raise SystemExit(f"{path} was not written")
            return path

        def compare(name: str, base: Path, new: Path, *extra: str) -> int:
            done = fixload("compare", str(base), str(new), *extra, env=env)
            text = f"$ fixload compare {base.name} {new.name} {' '.join(extra)}\n{done.stdout}{done.stderr}"
            text += f"exit {done.returncode}\n"
            (args.out / f"{name}.txt").write_text(text)
            print(f"\n===== {name}\n{text}", flush=True)
            return done.returncode

        staging = scaled(args.base_scale)
        codes = {}
        last_a = None
        for i in range(1, args.pairs + 1):
            a, b = run(f"aa{i}-a", staging), run(f"aa{i}-b", staging)
            codes[f"aa{i}"] = compare(f"aa{i}", a, b)
            last_a = b
        for label, factor in (("ab30", 1.30), ("ab3", 1.03)):
            for i in range(1, args.pairs + 1):
                a, b = run(f"{label}-{i}-a", staging), run(f"{label}-{i}-b", scaled(args.base_scale, factor))
                codes[f"{label}-{i}"] = compare(f"{label}-{i}", a, b)
                last_a = a
        assert last_a is not None
        m2 = run("m2", staging, "--multiplier", "2")
        codes["multiplier"] = compare("multiplier", last_a, m2)
        codes["multiplier-allowed"] = compare("multiplier-allowed", last_a, m2, "--allow-different", "multiplier")
    print("\nexit codes:", codes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
