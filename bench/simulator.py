"""Is the simulator ever the bottleneck? Measures, in one run on loopback:

1. ping: requests/s the simulator sustains on one core (requests served / simulator CPU-seconds, with the
   simulator pinned to one CPU) against what one Locust FastHttpUser process sends flat out; the ratio.
   With `--compare`, the same for a bare WSGI ping app on gevent's pywsgi (the no-new-dependency candidate).
2. the flows' route mix (the five flows' requests, weighted like baseline.json's peak rates): the same figures.
3. the baseline profile at multiplier 3 (~336 iterations/s, ~1,300 req/s) paced by Locust: the simulator's
   server-side p95 (target < 10 ms) and CPU use.
4. RSS of the simulator after N bookings driven through their whole lifecycle (eviction keeps it flat).

    python bench/simulator.py [--seconds 10] [--bookings 100000] [--compare]
"""

# ruff: noqa: E501 - the embedded locustfile keeps one request a line, like the k6 script it mirrors

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fixload.simulator.process import SimulatorProcess  # noqa: E402

# baseline.json at its peak, multiplier 3: iterations/s per flow (analytics is 10 constant VUs sleeping 0.45 s)
MIX_RATES = {"booking": 36 * 3, "chat": 28 * 3, "payments": 6 * 3, "analytics": 10 * 3 / 0.45, "ads": 20 * 3}

LOCUSTFILE = textwrap.dedent(
    '''
    """The five flows' requests (FLOWS.md), as lean as possible: the bench measures the server, not the flows."""
    import os, random
    from datetime import datetime, timedelta, timezone
    from locust import task, constant, constant_throughput
    from locust.contrib.fasthttp import FastHttpUser

    E = {k: v for k, v in (l.split("=", 1) for l in open(os.environ["SIM_ENV"]).read().split()) }
    ZONE, SERVICE, CAMPAIGN = os.environ["SIM_ZONE"], os.environ["SIM_SERVICE"], os.environ["SIM_CAMPAIGN"]
    H = lambda key: {"Authorization": "Bearer " + E[key]}
    ADMIN, USER, PROVIDER = H("K6_ADMIN_TOKEN"), H("K6_USER_TOKEN"), H("K6_PROVIDER_TOKEN")
    PACE = float(os.environ.get("SIM_PACE", "0"))
    WEIGHTS = {k: float(v) for k, v in (p.split(":") for p in os.environ["SIM_WEIGHTS"].split(","))}
    now = lambda m=0: (datetime.now(timezone.utc) + timedelta(minutes=m)).isoformat()

    class Flows(FastHttpUser):
        wait_time = constant_throughput(PACE) if PACE else constant(0)

        @task(int(WEIGHTS["booking"] * 10))
        def booking(self):
            c = self.client
            body = {"customerId": E["K6_CUSTOMER_ID"], "companyId": E["K6_COMPANY_ID"], "zoneId": ZONE,
                    "type": "on_demand", "demandLevel": "medium", "baseAmount": random.uniform(85, 260),
                    "currency": "GBP", "targetCurrency": "GBP", "metadata": {}, "actor": {"id": E["K6_PROVIDER_ID"], "type": "user"}}
            b = c.post("/api/bookings", json=body).json()["id"]
            c.post(f"/api/bookings/{b}/assignments", json={"assignments": [{"providerId": E["K6_PROVIDER_ID"], "role": "lead"}], "actorId": E["K6_PROVIDER_ID"]})
            c.post(f"/api/bookings/{b}/assignments/response", json={"bookingId": b, "providerId": E["K6_PROVIDER_ID"], "status": "accepted"})
            c.request("PATCH", f"/api/bookings/{b}/status", json={"status": "completed", "actorId": E["K6_PROVIDER_ID"], "reason": "bench"})
            c.get(f"/api/bookings?companyId={E['K6_COMPANY_ID']}&limit=5")

        @task(int(WEIGHTS["chat"] * 10))
        def chat(self):
            c = self.client
            body = {"subject": "bench", "createdBy": {"id": E["K6_PROVIDER_ID"], "type": "serviceman"},
                    "participants": [{"participantType": "user", "participantReferenceId": E["K6_CUSTOMER_ID"], "displayName": "c"},
                                     {"participantType": "serviceman", "participantReferenceId": E["K6_PROVIDER_ID"], "displayName": "p"}],
                    "metadata": {}, "aiAssist": {"defaultEnabled": False}}
            conv = c.post("/api/communications", json=body, headers=ADMIN).json()
            ids = {p["participantReferenceId"]: p["id"] for p in conv["participants"]}
            cid = conv["id"]
            c.post(f"/api/communications/{cid}/messages", json={"senderParticipantId": ids[E["K6_CUSTOMER_ID"]], "body": "hi"}, headers=USER)
            c.post(f"/api/communications/{cid}/messages", json={"senderParticipantId": ids[E["K6_PROVIDER_ID"]], "body": "ok"}, headers=PROVIDER)
            c.post(f"/api/communications/{cid}/video-session", json={"participantId": ids[E["K6_PROVIDER_ID"]], "channelName": cid, "expirySeconds": 1200}, headers=PROVIDER)
            c.get(f"/api/communications/{cid}?limit=5", headers=ADMIN)

        @task(int(WEIGHTS["payments"] * 10))
        def payments(self):
            self.client.post(f"/api/services/{SERVICE}/purchase", json={"totalAmount": random.uniform(120, 320), "currency": "GBP", "scheduledFor": now(120)}, headers=USER)

        @task(int(WEIGHTS["analytics"] * 10))
        def analytics(self):
            self.client.get("/api/analytics/dashboards/admin?timezone=Europe/London&startDate=" + now(-7 * 1440)[:10] + "&endDate=" + now()[:10], headers=ADMIN)
            self.client.get("/api/analytics/pipeline/status", headers=ADMIN)

        @task(int(WEIGHTS["ads"] * 10))
        def ads(self):
            c = self.client
            imp = random.randint(500, 4000); clicks = int(imp * random.uniform(0.02, 0.18)); spend = random.uniform(120, 750)
            c.post(f"/api/campaigns/{CAMPAIGN}/metrics", json={"metricDate": now(-random.uniform(0, 4320)), "impressions": imp, "clicks": clicks,
                   "conversions": int(clicks * random.uniform(0.05, 0.35)), "spend": spend, "revenue": spend * random.uniform(0.9, 2.8)}, headers=ADMIN)
            c.get(f"/api/campaigns/{CAMPAIGN}/summary", headers=ADMIN)
            signals = c.get(f"/api/campaigns/{CAMPAIGN}/fraud-signals", headers=ADMIN).json()
            open_ = [s for s in signals if not s["resolvedAt"]]
            if open_:
                c.post(f"/api/campaigns/fraud-signals/{open_[0]['id']}/resolve", json={"note": "bench"}, headers=ADMIN)

    class Ping(FastHttpUser):
        wait_time = constant(0)

        @task
        def ping(self):
            self.client.get("/ping")
    '''
)

WSGI_PING = textwrap.dedent(
    """
    import socket, sys
    from gevent import monkey; monkey.patch_all()
    from gevent.pywsgi import WSGIServer, WSGIHandler
    class Handler(WSGIHandler):
        def handle(self):
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else delayed ACKs cap it at ~1k/s
            super().handle()
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "15")])
        return [b'{"status":"ok"}']
    WSGIServer(("127.0.0.1", int(sys.argv[1])), app, log=None, handler_class=Handler).serve_forever()
    """
)


def cpu_seconds(pid: int) -> float:
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    return total + sum(sum(child.cpu_times()[:2]) for child in proc.children(recursive=True))


def run_locust(
    workdir: Path, host: str, user_class: str, users: int, seconds: float, env: dict[str, str], cpu: int | None
) -> dict[str, Any]:
    """One headless Locust process (pinned to `cpu`); its aggregated request count, failures and req/s."""
    cmd = [sys.executable, "-m", "locust", "-f", str(workdir / "benchfile.py"), "--headless", "--json"]
    cmd += ["-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "-H", host, "--only-summary", user_class]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=seconds + 60,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    )
    try:
        stats = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"locust failed: {proc.stderr[-3000:]}") from None
    requests = sum(s["num_requests"] for s in stats)
    failures = sum(s["num_failures"] for s in stats)
    elapsed = max((s["last_request_timestamp"] or 0) for s in stats) - min(s["start_time"] for s in stats)
    return {"requests": requests, "failures": failures, "rps": requests / elapsed if elapsed > 0 else 0.0}


def measure(sim_pid: int, fn: Any) -> tuple[dict[str, Any], float, float]:
    """Run `fn()`; also the simulator's CPU-seconds used and the wall time."""
    cpu0, wall0 = cpu_seconds(sim_pid), time.monotonic()
    result = fn()
    return result, cpu_seconds(sim_pid) - cpu0, time.monotonic() - wall0


def provision(sim: SimulatorProcess) -> dict[str, str]:
    ring = [[-0.13, 51.5], [-0.12, 51.5], [-0.12, 51.51], [-0.13, 51.51], [-0.13, 51.5]]
    zone = sim.request(
        "POST",
        "/api/zones",
        {"companyId": sim.env["K6_COMPANY_ID"], "name": "bench", "demandLevel": "medium",
         "geometry": {"type": "Polygon", "coordinates": [ring]}},
    )[1]  # fmt: skip
    service = sim.request(
        "POST",
        "/api/services",
        {"title": "t", "category": "load-test", "price": 99, "currency": "GBP"},
        token="provider",
    )[1]
    campaign = sim.request(
        "POST",
        "/api/campaigns",
        {"companyId": sim.env["K6_COMPANY_ID"], "name": "bench", "objective": "awareness", "campaignType": "ppc",
         "status": "active", "currency": "GBP", "totalBudget": 1e9, "dailySpendCap": 1e6,
         "startAt": "2025-01-01T00:00:00Z", "endAt": "2030-01-01T00:00:00Z"},
        token="admin",
    )[1]  # fmt: skip
    return {"SIM_ZONE": zone["id"], "SIM_SERVICE": service["id"], "SIM_CAMPAIGN": campaign["id"]}


async def drive_bookings(port: int, env: dict[str, str], zone: str, count: int, connections: int = 32) -> float:
    """Create `count` bookings and take each through assign → accept → complete over raw keep-alive sockets
    (the last three pipelined); returns bookings/s. A bare client, so it outpaces the server."""
    create_body = orjson.dumps(
        {"customerId": env["K6_CUSTOMER_ID"], "companyId": env["K6_COMPANY_ID"], "zoneId": zone, "type": "on_demand",
         "baseAmount": 100, "currency": "GBP"}
    )  # fmt: skip
    provider = env["K6_PROVIDER_ID"]

    def req(method: str, path: str, body: bytes) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    async def read_response(reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return await reader.readexactly(length)

    remaining = [count]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(req("POST", "/api/bookings", create_body))
            bid = orjson.loads(await read_response(reader))["id"]
            writer.write(
                req("POST", f"/api/bookings/{bid}/assignments", orjson.dumps({"assignments": [{"providerId": provider}]}))
                + req("POST", f"/api/bookings/{bid}/assignments/response",
                      orjson.dumps({"bookingId": bid, "providerId": provider, "status": "accepted"}))
                + req("PATCH", f"/api/bookings/{bid}/status", b'{"status":"completed"}')
            )  # fmt: skip
            for _ in range(3):
                await read_response(reader)
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return count / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each Locust run")
    parser.add_argument("--bookings", type=int, default=100_000, help="bookings for the RSS measurement")
    parser.add_argument("--compare", action="store_true", help="also measure a gevent pywsgi ping app")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    sim_cpu, gen_cpu = cpus[0], cpus[-1]
    print(f"# fixload simulator bench: {len(cpus)} CPU(s); simulator pinned to CPU {sim_cpu}, Locust to CPU {gen_cpu}")
    print(f"# python {sys.version.split()[0]}, server: uvicorn + httptools + uvloop, bare ASGI app")
    total_rate = sum(MIX_RATES.values())
    weights = ",".join(f"{k}:{v / total_rate:.4f}" for k, v in MIX_RATES.items())
    with tempfile.TemporaryDirectory() as tmp, SimulatorProcess(cpu=sim_cpu) as sim:
        work = Path(tmp)
        (work / "benchfile.py").write_text(LOCUSTFILE)
        env = {"SIM_ENV": str(sim.env_path), "SIM_WEIGHTS": weights, **provision(sim)}
        rss_start = psutil.Process(sim.pid).memory_info().rss

        def flat_out(user_class: str, users: int) -> dict[str, Any]:
            return run_locust(work, sim.base_url, user_class, users, args.seconds, env, gen_cpu)

        rows = []
        for label, user_class in (("ping", "Ping"), ("flow mix", "Flows")):
            sim.reset_stats()
            result, cpu, wall = measure(sim.pid, lambda uc=user_class: flat_out(uc, 50))
            capacity = result["requests"] / cpu if cpu else float("inf")
            p95 = sim.stats()["total"]["latencyMs"]["p95"]
            rows.append((label, capacity, result["rps"], cpu / wall, p95, result["failures"]))
        if args.compare:
            script = work / "wsgi_ping.py"
            script.write_text(WSGI_PING)
            port = sim.port + 1 if sim.port < 65000 else sim.port - 1
            wsgi = subprocess.Popen(
                [sys.executable, str(script), str(port)], preexec_fn=lambda: os.sched_setaffinity(0, {sim_cpu})
            )
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.2).close()
                        break
                    except OSError:
                        time.sleep(0.05)  # polling for the port to answer
                result, cpu, wall = measure(
                    wsgi.pid,
                    lambda: run_locust(work, f"http://127.0.0.1:{port}", "Ping", 50, args.seconds, env, gen_cpu),
                )
                rows.append(("ping, gevent pywsgi", result["requests"] / cpu, result["rps"], cpu / wall, None, 0))
            finally:
                wsgi.terminate()
                wsgi.wait()

        print("\n## flat out: one Locust FastHttpUser process (50 users, no wait) against the simulator")
        print(
            f"{'route set':<22}{'server req/s/core':>18}{'Locust req/s':>14}{'ratio':>8}{'server CPU':>12}{'p95 ms':>9}"
        )
        for label, capacity, rps, util, p95, failures in rows:
            p95_text = f"{p95:.2f}" if p95 is not None else "-"
            print(f"{label:<22}{capacity:>18,.0f}{rps:>14,.0f}{capacity / rps:>7.2f}x{util:>11.0%}{p95_text:>9}")
            if failures:
                print(f"  ! {failures} failed requests")

        # the baseline profile at multiplier 3, paced
        users = 100
        sim.reset_stats()
        paced_env = {**env, "SIM_PACE": f"{total_rate / users:.4f}"}
        result, cpu, wall = measure(
            sim.pid, lambda: run_locust(work, sim.base_url, "Flows", users, max(args.seconds, 15), paced_env, gen_cpu)
        )
        total = sim.stats()["total"]
        print(f"\n## baseline.json at multiplier 3: {total_rate:.0f} iterations/s paced by Locust ({users} users)")
        print(
            f"served {total['count']:,} requests at {result['rps']:,.0f} req/s, failures {result['failures']}, "
            f"server-side p50 {total['latencyMs']['p50']:.2f} ms, p95 {total['latencyMs']['p95']:.2f} ms "
            f"(target < 10 ms), p99 {total['latencyMs']['p99']:.2f} ms, simulator CPU {cpu / wall:.0%} of one core"
        )

        # memory after N bookings, each completed (finished records are evicted past the cap)
        rss_before = psutil.Process(sim.pid).memory_info().rss
        half = args.bookings // 2
        rate = asyncio.run(drive_bookings(sim.port, sim.env, env["SIM_ZONE"], half))
        rss_half = psutil.Process(sim.pid).memory_info().rss
        rate = (rate + asyncio.run(drive_bookings(sim.port, sim.env, env["SIM_ZONE"], args.bookings - half))) / 2
        rss_after = psutil.Process(sim.pid).memory_info().rss
        store = sim.request("GET", "/__fixload/store")[1]
        print(
            f"\n## memory: {args.bookings:,} bookings created and completed ({rate:,.0f} bookings/s, 4 requests each)"
        )
        print(
            f"simulator RSS: {rss_start / 2**20:.1f} MiB at start, {rss_before / 2**20:.1f} MiB before, "
            f"{rss_half / 2**20:.1f} MiB after {half:,}, {rss_after / 2**20:.1f} MiB after all; bookings held {store['counts']['bookings']:,}, "
            f"evicted {store['evicted']['bookings']:,}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
