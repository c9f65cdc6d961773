"""Soak: the baseline profile at multiplier 1 for N minutes, 2 workers, against the simulator; RSS over time.
Or, with `--simulator-iterations N`, the simulator alone driven flat out with N iterations of the five flows.

baseline.json lasts 6 minutes (ramp 2 m, hold-ish 3 m, ramp down 1 m). For N minutes its stage and
scenario durations are scaled by N/6, so the rates (and so the per-second load) are the baseline's and the
run is N minutes long. RSS of the Locust master, each worker and the simulator is sampled every
`--interval` s (psutil). Growth = last sample / the first sample after warm-up (the first
`--warmup` fraction of the run, default 20%), so allocation during ramp-up and fixture provisioning
is not counted as a leak. Goal: every process flat within 10%.

    python bench/soak.py [--minutes 10] [--interval 10] [--json out.json]

`--simulator-iterations N [--connections 32]`: the simulator's memory bound (issue 14 item 8). One hour at
300 iterations/s is 1.08M iterations; instead of pacing them over an hour, a lean asyncio client sends them
as fast as the simulator answers (every iteration is the flow's requests with the product's values, in the
baseline's flow mix), so the store receives the hour's records in a fraction of it. Records are what grow
memory, not time (no TTL depends on the clock but the analytics hour buckets, capped at 400 days), so the
same number of records is the same test. RSS of the simulator is sampled every `--interval` s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from _common import REPO, child_env, locust_command, processes_args, read_json, total_count

from fixload.common.durations import parse_duration
from fixload.simulator.process import SimulatorProcess


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}s".replace(".000s", "s")


def scaled_profile(minutes: float) -> dict[str, Any]:
    profile = read_json(REPO / "profiles" / "baseline.json")
    factor = minutes / 6.0
    for scenario in profile["scenarios"].values():
        for key in ("duration", "startTime"):
            if key in scenario:
                scenario[key] = _fmt_s(parse_duration(scenario[key]) * factor)
        for stage in scenario.get("stages", []):
            stage["duration"] = _fmt_s(parse_duration(stage["duration"]) * factor)
    profile["profile"] += f" (soak, {minutes:g} min)"
    return profile


def rss_mb(proc: psutil.Process) -> float | None:
    try:
        return proc.memory_info().rss / 2**20
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def soak(minutes: float, interval: float, workers: int, warmup: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fixload-soak-"))
    profile_path = tmp / "soak.json"
    profile_path.write_text(json.dumps(scaled_profile(minutes)))
    summary_path = tmp / "summary.json"
    samples: list[dict[str, Any]] = []
    with SimulatorProcess() as sim:
        env = child_env(sim.env)
        cmd = locust_command(REPO / "locustfiles", sim.base_url, "--profile", str(profile_path))
        cmd += ["--summary", str(summary_path), *processes_args(workers)]
        log = open(tmp / "locust.log", "wb")  # noqa: SIM115
        master = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        m_proc, s_proc = psutil.Process(master.pid), psutil.Process(sim.pid)
        started = time.monotonic()
        deadline = started + minutes * 60 + 120
        while master.poll() is None and time.monotonic() < deadline:
            worker_procs = [c for c in m_proc.children(recursive=True) if c.pid != sim.pid]
            sample = {
                "t": round(time.monotonic() - started, 1),
                "master": rss_mb(m_proc),
                "workers": [rss_mb(w) for w in worker_procs],
                "simulator": rss_mb(s_proc),
            }
            if sample["master"] is not None:
                samples.append(sample)
                print(
                    f"  t={sample['t']:6.1f}s master={sample['master']:.1f}MB workers="
                    + ",".join(f"{w:.1f}" for w in sample["workers"] if w is not None)
                    + f"MB simulator={sample['simulator']:.1f}MB",
                    flush=True,
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                master.wait(interval)
        if master.poll() is None:
            master.terminate()
            master.wait(30)
        log.close()
        server_requests = total_count(sim.stats())
    code = master.returncode
    wall = time.monotonic() - started
    summary = read_json(summary_path) if summary_path.exists() else {}
    after = [s for s in samples if s["t"] >= warmup * minutes * 60] or samples

    def growth(key: str, index: int | None = None) -> dict[str, float] | None:
        def pick(s: dict[str, Any]) -> float | None:
            v = s[key]
            if index is not None:
                v = v[index] if index < len(v) else None
            return v

        series = [v for v in (pick(s) for s in after) if v is not None]
        if len(series) < 2:
            return None
        return {
            "first_mb": round(series[0], 1),
            "last_mb": round(series[-1], 1),
            "max_mb": round(max(series), 1),
            "growth": round(series[-1] / series[0] - 1, 4),
        }

    n_workers = max((len(s["workers"]) for s in samples), default=0)
    result = {
        "minutes": minutes,
        "workers": workers,
        "exit_code": code,
        "wall_s": round(wall, 1),
        "samples": len(samples),
        "server_requests": server_requests,
        "iterations": summary.get("metrics", {}).get("iterations", {}).get("count"),
        "dropped": summary.get("metrics", {}).get("dropped_iterations", {}).get("count", 0),
        "rss": {
            "master": growth("master"),
            **{f"worker{i + 1}": growth("workers", i) for i in range(n_workers)},
            "simulator": growth("simulator"),
        },
        "log": str(tmp / "locust.log"),
    }
    return result


# ---------------------------------------------------------------------- the simulator alone, flat out
FLOW_MIX = {"booking": 36, "chat": 28, "payments": 6, "analytics": 22, "ads": 20}  # baseline.json's peak it/s


class _Conn:
    """One keep-alive HTTP/1.1 connection: the least client that can drive the simulator faster than Locust."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.requests = 0

    async def call(self, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, bytes]:
        data = orjson.dumps(body) if body is not None else b""
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self.reader.readexactly(length)
        self.requests += 1
        return int(status_line.split()[1]), payload


class _AppConn:
    """The same calls straight into the simulator's ASGI app in this process: every layer but uvicorn's sockets
    (routing, auth, faults, the stats ring, the handlers, the store), a few times faster than over loopback."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0

    async def call(self, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, bytes]:
        # an exact-size copy, as uvicorn hands the app: orjson's own bytes keep a 4 KiB buffer each, and the
        # request log would keep that buffer, not the body
        data = memoryview(orjson.dumps(body)).tobytes() if body is not None else b""
        route, _, query = path.partition("?")
        headers = [(b"content-type", b"application/json")]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {"type": "http", "method": method, "path": route, "query_string": query.encode(), "headers": headers}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        self.requests += 1
        return sent[0]["status"], sent[1]["body"]


def _iso(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def _iteration(conn: _Conn, flow: str, env: dict[str, str], fx: dict[str, str], rng: random.Random) -> bool:
    """One iteration of `flow` with the product's values; True when every step got its expected status."""
    ok = True

    async def step(method: str, path: str, body: Any, expect: int, token: str = "") -> Any:
        nonlocal ok
        status, payload = await conn.call(method, path, body, token)
        ok = ok and status == expect
        return orjson.loads(payload) if status == expect and payload[:1] in (b"{", b"[") else None

    if flow == "booking":
        scheduled = rng.random() < 0.4
        body: dict[str, Any] = {
            "customerId": env["K6_CUSTOMER_ID"], "companyId": env["K6_COMPANY_ID"], "zoneId": fx["zone"],
            "type": "scheduled" if scheduled else "on_demand", "demandLevel": rng.choice(("low", "medium", "high")),
            "baseAmount": round(rng.uniform(85, 260), 2), "currency": "GBP", "targetCurrency": "GBP",
            "metadata": {"scenario": "load-test", "runId": rng.randrange(10**6)},
            "actor": {"id": env["K6_PROVIDER_ID"], "type": "user"},
        }  # fmt: skip
        if scheduled:
            body["scheduledStart"], body["scheduledEnd"] = _iso(180), _iso(300)
        booking = await step("POST", "/api/bookings", body, 201)
        if booking is None:
            return False
        bid, provider = booking["id"], env["K6_PROVIDER_ID"]
        assignment = {"assignments": [{"providerId": provider, "role": "lead"}], "actorId": provider}
        await step("POST", f"/api/bookings/{bid}/assignments", assignment, 201)
        answer = {"bookingId": bid, "providerId": provider, "status": "accepted"}
        await step("POST", f"/api/bookings/{bid}/assignments/response", answer, 200)
        for status in ("in_progress", "completed") if scheduled else ("completed",):
            await step("PATCH", f"/api/bookings/{bid}/status", {"status": status, "actorId": provider}, 200)
        await conn.call("GET", f"/api/bookings?companyId={env['K6_COMPANY_ID']}&limit=5")
    elif flow == "chat":
        people = [("user", env["K6_CUSTOMER_ID"], "customer"), ("serviceman", env["K6_PROVIDER_ID"], "provider")]
        body = {
            "subject": f"Load test conversation {rng.randrange(16**8):08x}",
            "createdBy": {"id": env["K6_PROVIDER_ID"], "type": "serviceman"},
            "participants": [
                {"participantType": t, "participantReferenceId": ref, "displayName": f"Load Test {role}", "role": role}
                for t, ref, role in people
            ],
            "metadata": {"scenario": "load-test"},
            "aiAssist": {"defaultEnabled": False},
        }
        chat = await step("POST", "/api/communications", body, 201)
        if chat is None:
            return False
        cid, (customer, provider) = chat["id"], (p["id"] for p in chat["participants"])
        for sender, text in ((customer, "Can you confirm the slot?"), (provider, "Provider acknowledgement.")):
            message = {"senderParticipantId": sender, "body": text, "messageType": "user", "attachments": []}
            await step("POST", f"/api/communications/{cid}/messages", message, 201)
        session = {"participantId": provider, "channelName": "load-test", "expirySeconds": 900}
        await step("POST", f"/api/communications/{cid}/video-session", session, 201)
        await conn.call("GET", f"/api/communications/{cid}?limit=5")
    elif flow == "payments":
        order = {"totalAmount": round(rng.uniform(120, 320), 2), "currency": "GBP", "scheduledFor": _iso(120)}
        await step("POST", f"/api/services/{fx['service']}/purchase", order, 201, env["K6_USER_TOKEN"])
    elif flow == "analytics":
        window = f"timezone=Europe/London&startDate={_iso(-7 * 1440)}&endDate={_iso()}".replace("+", "%2B")
        await step("GET", f"/api/analytics/dashboards/admin?{window}", None, 200)
        await step("GET", "/api/analytics/pipeline/status", None, 200)
    else:
        impressions = rng.randint(500, 4000)
        clicks = round(impressions * rng.uniform(0.02, 0.18))
        day = {
            "metricDate": _iso(-rng.random() * 72 * 60), "impressions": impressions, "clicks": clicks,
            "conversions": round(clicks * rng.uniform(0.05, 0.35)), "spend": round(rng.uniform(120, 750), 2),
            "revenue": round(rng.uniform(200, 1500), 2),
        }  # fmt: skip
        campaign = fx["campaign"]
        await step("POST", f"/api/campaigns/{campaign}/metrics", day, 201)
        await step("GET", f"/api/campaigns/{campaign}/summary", None, 200)
        signals = await step("GET", f"/api/campaigns/{campaign}/fraud-signals", None, 200) or []
        if signals:
            note = {"note": "Automated load-test resolution"}
            await step("POST", f"/api/campaigns/fraud-signals/{signals[0]['id']}/resolve", note, 200)
    return ok


async def _drive(connect: Any, env: dict[str, str], fx: dict[str, str], total: int, connections: int) -> dict[str, int]:
    flows = [flow for flow, weight in FLOW_MIX.items() for _ in range(weight)]
    counts = {"iterations": 0, "failed": 0, "requests": 0}

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = await connect()
        while counts["iterations"] < total:
            counts["iterations"] += 1
            if not await _iteration(conn, rng.choice(flows), env, fx, rng):
                counts["failed"] += 1
        counts["requests"] += conn.requests

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return counts


def simulator_soak(iterations: int, connections: int, interval: float) -> dict[str, Any]:
    """The simulator alone: `iterations` flow iterations flat out, RSS sampled in a side thread."""
    samples: list[tuple[float, float]] = []
    with SimulatorProcess() as sim:
        env, proc = sim.env, psutil.Process(sim.pid)
        ring = [[-0.12, 51.48], [-0.1, 51.48], [-0.1, 51.5], [-0.12, 51.5], [-0.12, 51.48]]
        zone = {
            "companyId": env["K6_COMPANY_ID"],
            "name": "soak",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        service = {"title": "soak", "price": 120, "currency": "GBP"}
        campaign = {
            "companyId": env["K6_COMPANY_ID"], "name": "soak", "objective": "awareness", "campaignType": "ppc",
            "status": "active", "totalBudget": 5000, "dailySpendCap": 450, "startAt": _iso(), "endAt": _iso(10080),
        }  # fmt: skip
        fx = {
            "zone": sim.request("POST", "/api/zones", zone)[1]["id"],
            "service": sim.request("POST", "/api/services", service, token="provider")[1]["id"],
            "campaign": sim.request("POST", "/api/campaigns", campaign)[1]["id"],
        }
        started = time.monotonic()
        done = threading.Event()

        def sample() -> None:
            while True:
                samples.append((round(time.monotonic() - started, 1), proc.memory_info().rss / 2**20))
                t, mb = samples[-1]
                print(f"  t={t:7.1f}s simulator RSS {mb:6.1f} MB", flush=True)
                if done.wait(interval):
                    samples.append((round(time.monotonic() - started, 1), proc.memory_info().rss / 2**20))
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def connect() -> _Conn:
            return _Conn(*await asyncio.open_connection("127.0.0.1", sim.port))

        counts = asyncio.run(_drive(connect, env, fx, iterations, connections))
        done.set()
        sampler.join()
        store = sim.request("GET", "/__fixload/store")[1]
        routes = {name: (r["count"], r["latencyMs"]["mean"]) for name, r in sim.stats()["routes"].items()}
    wall = time.monotonic() - started
    rss = [mb for _, mb in samples]
    return {
        **counts,
        "connections": connections,
        "wall_s": round(wall, 1),
        "iterations_per_s": round(counts["iterations"] / wall, 1),
        "rss_mb": {"start": round(rss[0], 1), "peak": round(max(rss), 1), "end": round(rss[-1], 1)},
        "samples": samples,
        "store": store,
        "routes": routes,
    }


def in_process_soak(iterations: int, interval: float) -> dict[str, Any]:
    """The same drive into `fixload serve`'s app built in this process (its options' defaults); RSS of this
    process, which holds nothing else that grows."""
    import argparse as _argparse

    from fixload.simulator import serve

    parser = _argparse.ArgumentParser()
    serve.add_arguments(parser)
    app = serve.build_app(parser.parse_args([]))
    env = {
        "K6_COMPANY_ID": app.store.identity.company_id,
        "K6_CUSTOMER_ID": app.store.identity.customer_id,
        "K6_PROVIDER_ID": app.store.identity.provider_id,
        "K6_USER_TOKEN": app.settings.tokens["user"],
    }
    proc = psutil.Process()

    async def run() -> tuple[dict[str, int], list[tuple[int, float]]]:
        conn = _AppConn(app)
        ring = [[-0.12, 51.48], [-0.1, 51.48], [-0.1, 51.5], [-0.12, 51.5], [-0.12, 51.48]]
        zone = {
            "companyId": env["K6_COMPANY_ID"],
            "name": "soak",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        campaign = {
            "companyId": env["K6_COMPANY_ID"], "name": "soak", "objective": "awareness", "campaignType": "ppc",
            "status": "active", "totalBudget": 5000, "dailySpendCap": 450, "startAt": _iso(), "endAt": _iso(10080),
        }  # fmt: skip
        provider_token = app.settings.tokens["provider"]
        fx = {
            "zone": orjson.loads((await conn.call("POST", "/api/zones", zone))[1])["id"],
            "service": orjson.loads(
                (await conn.call("POST", "/api/services", {"title": "soak", "price": 120}, provider_token))[1]
            )["id"],
            "campaign": orjson.loads((await conn.call("POST", "/api/campaigns", campaign))[1])["id"],
        }
        samples = [(0, proc.memory_info().rss / 2**20)]
        step = max(iterations // max(int(interval), 1), 1)
        totals = {"iterations": 0, "failed": 0, "requests": 0}
        while totals["iterations"] < iterations:
            chunk = min(step, iterations - totals["iterations"])
            counts = await _drive(lambda: _async_value(conn), env, fx, chunk, 1)
            totals["iterations"] += counts["iterations"]
            totals["failed"] += counts["failed"]
            samples.append((totals["iterations"], proc.memory_info().rss / 2**20))
            print(f"  {totals['iterations']:8d} iterations: RSS {samples[-1][1]:6.1f} MB", flush=True)
        totals["requests"] = conn.requests
        return totals, samples

    started = time.monotonic()
    counts, samples = asyncio.run(run())
    wall = time.monotonic() - started
    rss = [mb for _, mb in samples]
    return {
        **counts,
        "wall_s": round(wall, 1),
        "iterations_per_s": round(counts["iterations"] / wall, 1),
        "rss_mb": {"start": round(rss[0], 1), "peak": round(max(rss), 1), "end": round(rss[-1], 1)},
        "samples": samples,
        "store": app.admin("GET", "/__fixload/store", b"", b"")[1],
    }


async def _async_value(value: Any) -> Any:
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of the run ignored for growth")
    parser.add_argument("--json", help="write the result here")
    parser.add_argument("--simulator-iterations", type=int, help="drive the simulator alone with this many")
    parser.add_argument("--connections", type=int, default=32, help="with --simulator-iterations")
    parser.add_argument(
        "--in-process", action="store_true", help="with --simulator-iterations: into the app, no sockets"
    )
    args = parser.parse_args(argv)
    if args.simulator_iterations:
        if args.in_process:
            outcome = in_process_soak(args.simulator_iterations, args.interval)
        else:
            outcome = simulator_soak(args.simulator_iterations, args.connections, args.interval)
        print(
            f"simulator soak: {outcome['iterations']} iterations ({outcome['failed']} failed), "
            f"{outcome['requests']} requests in {outcome['wall_s']} s ({outcome['iterations_per_s']} it/s)"
        )
        rss = outcome["rss_mb"]
        print(f"  simulator RSS start {rss['start']} MB, peak {rss['peak']} MB, end {rss['end']} MB")
        print(f"  store: {outcome['store']}")
        for name, (count, mean_ms) in sorted(outcome.get("routes", {}).items(), key=lambda kv: -kv[1][0] * kv[1][1]):
            print(f"  {name:60s} {count:8d} x {mean_ms:.3f} ms")
        if args.json:
            Path(args.json).write_text(json.dumps(outcome, indent=2))
        return 0 if rss["peak"] < 200 else 1  # the bound under test; failed steps are reported above
    result = soak(args.minutes, args.interval, args.workers, args.warmup)
    print(f"soak {args.minutes:g} min, {args.workers} workers: exit {result['exit_code']}, {result['wall_s']} s")
    print(
        f"  iterations {result['iterations']}, dropped {result['dropped']}, server requests {result['server_requests']}"
    )
    for name, g in result["rss"].items():
        if g:
            flat = "flat" if abs(g["growth"]) <= 0.10 else "GROWS"
            print(
                f"  {name:10s} RSS {g['first_mb']:.1f} -> {g['last_mb']:.1f} MB (max {g['max_mb']:.1f}), "
                f"{g['growth']:+.1%} {flat}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
