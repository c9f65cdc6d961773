"""How evenly a generator's requests arrive at the target: the schedule each one keeps, seen on the wire.

Locust's paced loop and fixload's engine can be asked the same 1,200/s and deliver it very differently:
the engine starts every iteration within one `settings.startGrid` cell of its time, an even schedule;
Locust's paced users drift into step and send in clusters. The CPU a generator spends per request depends
on that (each cluster is one wake-up of the process; bench/wakeups.py prices one), so bench/cost.py's (f)
compares the two at equal evenness as well as at the engine's default grid.

The arrivals are read from the loopback interface (an AF_PACKET socket, root only, kernel timestamps), in a
process pinned to the simulator's CPU, so neither generator is instrumented: the first segment of each
`GET /ping` request to the simulator's port. From the arrival times a_1..a_n of a steady window:

- `band_ms`: the width of the band around an even schedule that holds 98 % of the requests:
  d_i = a_i - (a_0 + i / r) for the window's own even schedule (a_0, r fitted by least squares),
  band = p99(d) - p1(d). An even schedule whose starts lag by up to one grid cell has a band of about the
  cell; a loop whose requests leave in k clusters a second has a band of about 1/k s.
- `gap_p99_ms`: the 99th percentile of the gaps between consecutive arrivals (an even 1,200/s: 0.83 ms).

    python bench/evenness.py [--rate 1200] [--window 4] [--grid 20ms --grid 40ms] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GENERATOR_CPU,
    SIMULATOR_CPU,
    await_traffic,
    child_env,
    engine_command,
    finish,
    generator_process,
    paced_command,
    paced_env,
    pin,
)

from fixload.simulator.process import SimulatorProcess

ETH_P_ALL = 0x0003
PACKET_HOST = 0  # on loopback each packet is seen twice: outgoing (4) and arriving (0); count the arrival
SO_TIMESTAMPNS = SCM_TIMESTAMPNS = 35
SO_RCVBUFFORCE, SO_ATTACH_FILTER = 33, 26
SOL_PACKET, PACKET_STATISTICS = 263, 6
SKF_AD_PKTTYPE = 0xFFFFF000 + 4  # classic BPF's ancillary load of the packet's type
REQUEST = b"GET /ping"
ENGINE_VUS = 200  # as bench/cost.py's


def request_arrival(frame: bytes, port: int) -> bool:
    """Whether an Ethernet frame from `lo` is a TCP segment to `port` whose payload starts a GET /ping."""
    if len(frame) < 14 + 20 + 20 or frame[12:14] != b"\x08\x00":  # IPv4 only: the simulator binds 127.0.0.1
        return False
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] != 6:  # TCP
        return False
    tcp = 14 + ihl
    if struct.unpack_from("!H", frame, tcp + 2)[0] != port:
        return False
    payload = tcp + (frame[tcp + 12] >> 4) * 4
    return frame[payload : payload + len(REQUEST)] == REQUEST


def port_filter(port: int) -> list[tuple[int, int, int, int]]:
    """A classic BPF program keeping the arriving IPv4 TCP segments to `port` (what `tcpdump -dd 'inbound and
    tcp dst port P'` would give), so the kernel hands the reader a fraction of the frames on `lo`."""
    return [
        (0x20, 0, 0, SKF_AD_PKTTYPE),  # ld pkttype
        (0x15, 0, 7, PACKET_HOST),  # jeq host, else drop
        (0x28, 0, 0, 12),  # ldh ethertype
        (0x15, 0, 5, 0x0800),  # jeq IPv4
        (0x30, 0, 0, 23),  # ldb protocol
        (0x15, 0, 3, 6),  # jeq TCP
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf): the IP header's length
        (0x48, 0, 0, 16),  # ldh [x+16]: the TCP destination port
        (0x15, 0, 1, port),  # jeq port
        (0x06, 0, 0, 0xFFFF),  # keep
        (0x06, 0, 0, 0),  # drop
    ]


def attach(sock: socket.socket, program: Sequence[tuple[int, int, int, int]]) -> None:
    """SO_ATTACH_FILTER with `program` (struct sock_fprog over struct sock_filter[])."""
    insns = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(insns)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_reader(port: int) -> socket.socket:
    """A packet socket on `lo` that keeps the arriving TCP segments to `port`, with kernel timestamps."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 26)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    attach(sock, port_filter(port))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    return sock


def read_window(sock: socket.socket, port: int, seconds: float) -> tuple[list[float], int]:
    """The kernel's arrival times (s) of the GET /ping requests to `port` that `sock` holds or receives in the
    next `seconds` s, and the frames the kernel dropped because the reader fell behind (a window with drops
    has false gaps)."""
    out: list[float] = []
    # the window is read by the kernel's timestamps, not the reader's clock: a reader sharing its CPU with the
    # simulator falls behind and would otherwise stop with the window's end still in its buffer
    end = time.time() + seconds
    deadline = time.monotonic() + seconds + 10  # traffic that stops ends the window too
    while time.monotonic() < deadline:
        try:
            frame, ancdata, _flags, address = sock.recvmsg(256, socket.CMSG_SPACE(16))
        except TimeoutError:
            continue
        stamps = [d for level, kind, d in ancdata if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS]
        if not stamps:
            continue
        sec, nsec = struct.unpack("qq", stamps[0][:16])
        if sec + nsec / 1e9 > end:
            break
        if address[2] == PACKET_HOST and request_arrival(frame, port):
            out.append(sec + nsec / 1e9)
    _packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return out, drops


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def evenness(arrivals: Sequence[float]) -> dict[str, float]:
    """`band_ms`, `gap_p99_ms`, `requests` and `rate` of a window's arrival times (see the module's doc)."""
    a = sorted(arrivals)
    if len(a) < 3 or a[-1] <= a[0]:
        return {"requests": len(a), "rate": float("nan"), "band_ms": float("nan"), "gap_p99_ms": float("nan")}
    fit = statistics.linear_regression(range(len(a)), a)  # the window's even schedule: a_i ~ a_0 + i / rate
    step = fit.slope
    d = [t - fit.intercept - i * step for i, t in enumerate(a)]
    gaps = [b - x for x, b in itertools.pairwise(a)]
    return {
        "requests": len(a),
        "rate": round(1 / step, 1),
        "band_ms": round(1e3 * (_percentile(d, 0.99) - _percentile(d, 0.01)), 2),
        "gap_p99_ms": round(1e3 * _percentile(gaps, 0.99), 3),
    }


def observe(sim: Any, command: list[str], env: dict[str, str], cpu: int, warmup: float, window: float, log: Path):
    """Run a generator, and once it has sent traffic for `warmup` s read its arrivals for `window` s. The reader
    starts first and waits for the word: started in the window, its imports would take the simulator's CPU
    and stall the very traffic it reads."""
    port = int(sim.base_url.rsplit(":", 1)[1].rstrip("/"))
    reader = subprocess.Popen(
        [sys.executable, __file__, "--capture", str(port), str(window)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pin(SIMULATOR_CPU),
    )
    try:
        assert reader.stdin and reader.stdout
        if reader.stdout.readline().strip() != "ready":
            raise RuntimeError("the arrival reader did not start (AF_PACKET needs root)")
        sim.reset_stats()  # the traffic to wait for is this generator's
        with generator_process(command, env, log, cpu) as proc:
            await_traffic(sim, proc, log)
            time.sleep(warmup)
            reader.stdin.write("go\n")
            reader.stdin.flush()
            arrivals, drops = json.loads(reader.stdout.readline())
    finally:
        reader.kill()
        reader.wait()
    return {**evenness(arrivals), "capture_drops": drops}


def bench(rate: int, users: int, warmup: float, window: float, grids: Sequence[str]) -> dict[str, Any]:
    """One observation each of the engine at its default grid and at each of `grids`, and of the paced loop:
    the run's settings and, under `arms`, each one's figures by name ("engine", "engine@20ms", "paced")."""
    tmp = Path(tempfile.mkdtemp(prefix="fixload-evenness-"))
    seconds = int(warmup + window + 15)
    arms: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"rate": rate, "users": users, "warmup_s": warmup, "window_s": window, "arms": arms}
    with SimulatorProcess(cpu=SIMULATOR_CPU) as sim:
        env = child_env(sim.env)
        env.pop("FIXLOAD_BENCH_PACE", None)
        for grid in [None, *grids]:
            name = "engine" if grid is None else f"engine@{grid}"
            cmd = engine_command(tmp, sim.base_url, rate, seconds, ENGINE_VUS, name.replace("@", "-"), start_grid=grid)
            arms[name] = observe(sim, cmd, env, GENERATOR_CPU, warmup, window, tmp / f"{name}.log")
        paced = paced_command(tmp, sim.base_url, users, seconds)
        arms["paced"] = observe(sim, paced, paced_env(env, rate, users), GENERATOR_CPU, warmup, window, tmp / "p.log")
    return out


def report(r: dict[str, Any]) -> str:
    lines = [f"GET /ping at {r['rate']}/s, arrivals on the wire over {r['window_s']:g} s after {r['warmup_s']:g} s:"]
    for name, e in r["arms"].items():
        lines.append(
            f"  {name}: {e['requests']} requests at {e['rate']}/s, 98 % within a {e['band_ms']} ms band of an "
            f"even schedule, gap p99 {e['gap_p99_ms']} ms (frames the capture dropped: {e['capture_drops']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capture", nargs=2, metavar=("PORT", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=int, default=1200)
    parser.add_argument("--users", type=int, default=50, help="users of Locust's paced loop")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--window", type=float, default=4)
    parser.add_argument("--grid", action="append", default=None, help="also the engine at this startGrid")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.capture:  # the reader observe() starts: ready, then one window on the word
        print("ready", flush=True)
        sys.stdin.readline()
        port = int(args.capture[0])
        with open_reader(port) as sock:
            print(json.dumps(read_window(sock, port, float(args.capture[1]))), flush=True)
        return 0
    result = bench(args.rate, args.users, args.warmup, args.window, args.grid or ["20ms", "40ms"])
    return finish(result, report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
