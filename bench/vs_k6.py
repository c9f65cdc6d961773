"""fixload vs k6 on one arrival-rate profile, the same simulator, in one run.

The profile (~30 s): `ping_const`, constant-arrival-rate 50/s for 30 s (GET /ping), and `ping_ramp`,
ramping-arrival-rate 10 -> 100/s over 15 s -> 20/s over 15 s (GET /api/ping), so the server counts each
scenario on its own route. k6 runs a script this bench writes from the same profile (per-scenario
`iterations` and `dropped_iterations` reach `--summary-export` through thresholds on
`iterations{scenario:x}`); fixload runs it through `bench/ping_users.py` and `--summary`. Generator on
CPU 0, simulator on CPU 1; the simulator's stats are reset between the runs.

Prints per scenario: scheduled (k6's exact count, `expected_iterations()` of its executor), started and
dropped for each tool, the server-side count for each tool, and fixload/k6 started.
Goal: fixload within 1% of k6, and both within 1% of the schedule.

    python bench/vs_k6.py [--json out.json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GENERATOR_CPU,
    REPO,
    SIMULATOR_CPU,
    child_env,
    finish,
    k6_binary,
    locust_command,
    read_json,
    route_count,
    run,
)

from fixload.profile.schema import parse_profile
from fixload.simulator.process import SimulatorProcess

PROFILE: dict[str, Any] = {
    "profile": "bench: fixload vs k6 (arrival rates)",
    "scenarios": {
        "ping_const": {
            "executor": "constant-arrival-rate",
            "exec": "booking_flow",
            "rate": 50,
            "timeUnit": "1s",
            "duration": "30s",
            "preAllocatedVUs": 10,
            "maxVUs": 50,
            "gracefulStop": "5s",
        },
        "ping_ramp": {
            "executor": "ramping-arrival-rate",
            "exec": "chat_flow",
            "startRate": 10,
            "timeUnit": "1s",
            "preAllocatedVUs": 10,
            "maxVUs": 50,
            "gracefulStop": "5s",
            "stages": [{"duration": "15s", "target": 100}, {"duration": "15s", "target": 20}],
        },
    },
}
ROUTES = {"booking_flow": "/ping", "chat_flow": "/api/ping"}
K6_OPTIONS = ("executor", "rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs", "startRate", "stages")


def k6_script(profile: dict[str, Any]) -> str:
    """A k6 script running the profile's scenarios, one GET per iteration on each scenario's route."""
    scenarios: dict[str, Any] = {}
    thresholds: dict[str, list[str]] = {}
    functions = []
    for name, spec in profile["scenarios"].items():
        options = {k: v for k, v in spec.items() if k in K6_OPTIONS}
        options["gracefulStop"] = spec.get("gracefulStop", "30s")
        options["exec"] = name
        scenarios[name] = options
        thresholds[f"iterations{{scenario:{name}}}"] = ["count>=0"]
        thresholds[f"dropped_iterations{{scenario:{name}}}"] = ["count>=0"]
        route = ROUTES[spec["exec"]]
        functions.append(f"export function {name}() {{ http.get(`${{BASE}}{route}`); }}")
    options_json = json.dumps(
        {"scenarios": scenarios, "thresholds": thresholds, "discardResponseBodies": True}, indent=2
    )
    return "\n".join(
        [
            "import http from 'k6/http';",
            "const BASE = __ENV.BASE_URL;",
            f"export const options = {options_json};",
            *functions,
            "",
        ]
    )


def _k6_counts(export: dict[str, Any], name: str) -> tuple[int, int]:
    metrics = export.get("metrics", {})
    started = metrics.get(f"iterations{{scenario:{name}}}", {}).get("count", 0)
    dropped = metrics.get(f"dropped_iterations{{scenario:{name}}}", {}).get("count", 0)
    return int(started), int(dropped)


def bench(keep: bool = False) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fixload-vsk6-"))
    profile_path = tmp / "profile.json"
    profile_path.write_text(json.dumps(PROFILE, indent=2))
    script_path = tmp / "script.js"
    script_path.write_text(k6_script(PROFILE))
    profile = parse_profile(PROFILE)
    scheduled = {name: s.expected_iterations() for name, s in profile.scenarios.items()}
    result: dict[str, Any] = {"scenarios": {}, "tmp": str(tmp)}
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        # k6
        sim.reset_stats()
        export_path = tmp / "k6-export.json"
        k6_code, k6_wall = run(
            [
                k6_binary(),
                "run",
                "--quiet",
                "--no-usage-report",
                "--summary-export",
                str(export_path),
                str(script_path),
            ],
            env=child_env({"BASE_URL": sim.base_url, "K6_NO_USAGE_REPORT": "true"}),
            cpu=GENERATOR_CPU,
            log=tmp / "k6.log",
        )
        k6_server = sim.stats()
        export = read_json(export_path) if export_path.exists() else {}
        # fixload
        sim.reset_stats()
        summary_path = tmp / "fixload-summary.json"
        cmd = locust_command(REPO / "bench" / "ping_users.py", sim.base_url)
        cmd += ["--profile", str(profile_path), "--summary", str(summary_path)]
        fx_code, fx_wall = run(cmd, env=child_env(sim.env), cpu=GENERATOR_CPU, log=tmp / "fixload.log")
        fx_server = sim.stats()
    summary = read_json(summary_path) if summary_path.exists() else {}
    result.update(k6_exit=k6_code, k6_wall_s=round(k6_wall, 1), fixload_exit=fx_code, fixload_wall_s=round(fx_wall, 1))
    for name, spec in PROFILE["scenarios"].items():
        route = "GET " + ROUTES[spec["exec"]]
        k_started, k_dropped = _k6_counts(export, name)
        fx = summary.get("fixload", {}).get("scenarios", {}).get(name, {})
        row = {
            "executor": spec["executor"],
            "scheduled": scheduled[name],
            "k6_started": k_started,
            "k6_dropped": k_dropped,
            "k6_server": route_count(k6_server, route),
            "fixload_started": int(fx.get("started", 0)),
            "fixload_dropped": int(fx.get("dropped", 0)),
            "fixload_server": route_count(fx_server, route),
            "fixload_scheduled": fx.get("scheduled"),
        }
        row["ratio"] = row["fixload_started"] / row["k6_started"] if row["k6_started"] else None
        row["k6_vs_schedule"] = k_started / scheduled[name] if scheduled[name] else None
        row["fixload_vs_schedule"] = row["fixload_started"] / scheduled[name] if scheduled[name] else None
        result["scenarios"][name] = row
    lag = summary.get("metrics", {}).get("iteration_start_lag", {})
    result["fixload_start_lag_ms"] = {k: lag.get(k) for k in ("avg", "p(95)", "max") if k in lag}
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"k6 exit {result['k6_exit']} ({result['k6_wall_s']} s), fixload exit {result['fixload_exit']} "
        f"({result['fixload_wall_s']} s)",
        f"{'scenario':<11} {'scheduled':>9} | {'k6 started':>10} {'dropped':>7} {'server':>6} | "
        f"{'fixload started':>15} {'dropped':>7} {'server':>6} | {'fixload/k6':>10}",
    ]
    for name, r in result["scenarios"].items():
        ratio_txt = f"{r['ratio']:.4f}" if r["ratio"] is not None else "n/a"
        lines.append(
            f"{name:<11} {r['scheduled']:>9} | {r['k6_started']:>10} {r['k6_dropped']:>7} {r['k6_server']:>6} | "
            f"{r['fixload_started']:>15} {r['fixload_dropped']:>7} {r['fixload_server']:>6} | {ratio_txt:>10}"
        )
    if result.get("fixload_start_lag_ms"):
        lines.append(f"fixload iteration_start_lag (ms): {result['fixload_start_lag_ms']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the result here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (script, logs, exports)")
    args = parser.parse_args(argv)
    result = bench(args.keep)
    return finish(result, report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
