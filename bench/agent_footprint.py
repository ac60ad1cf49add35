"""Agent footprint: resident memory and CPU time per collection cycle, side by side with
Prometheus node_exporter, Zabbix agent and Glances (Debian packages), on this machine.

Each program runs for --seconds at a 5 s cycle (the cost of a cycle does not depend on the
interval; a short one gives more cycles to average). Vigie's agent runs as install.sh deploys it
(its own virtualenv, the package with the agent extra only) and sends over HTTPS to a sink whose
CA it pins. A "floor" row runs what any agent built on the chosen stack must load (CPython,
OpenSSL with a verifying context, SQLite with a WAL database, psutil, logging) doing nothing.
Run: .venv/bin/python -m bench.agent_footprint [--windows]
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.services import free_port, make_ca

ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results"
TICK = os.sysconf("SC_CLK_TCK")
CYCLE = 5.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def rss_kib(pids: list[int]) -> int:
    """Summed resident memory."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def family(root: int) -> list[int]:
    """A process and its descendants."""
    out = [root]
    for pid in out:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        out += [int(c) for c in children]
    return out


def measure(
    name: str,
    args: list[str],
    seconds: float,
    per_cycle: Callable[[], None] | None = None,
    warmup: float = 6.0,
    env: dict[str, str] | None = None,
    output: int = subprocess.DEVNULL,
) -> dict[str, float | str]:
    """Run a program, let it warm up, then measure CPU over `seconds` and RSS at the end."""
    proc = subprocess.Popen(args, stdout=output, stderr=output, env=env)
    try:
        deadline = time.monotonic() + warmup
        while time.monotonic() < deadline:
            if per_cycle:
                per_cycle()
            time.sleep(CYCLE if per_cycle else 0.5)
        pids = family(proc.pid)
        start_cpu, start = cpu_seconds(pids), time.monotonic()
        cycles = 0
        while time.monotonic() - start < seconds:
            if per_cycle:
                per_cycle()
            cycles += 1
            time.sleep(CYCLE)
        pids = family(proc.pid)
        used = cpu_seconds(pids) - start_cpu
        rss = rss_kib(pids)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "program": name,
        "rss_mib": rss / 1024,
        "cpu_ms_per_cycle": 1000 * used / cycles,
        "processes": len(pids),
    }


def tls_sink(pki: Path) -> tuple[str, Path, http.server.ThreadingHTTPServer]:
    """A collector stand-in over HTTPS that acknowledges everything (the agent's sends are
    measured too): its URL, the CA to pin, the server."""

    class Ack(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the collector's uvicorn

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    ca, cert, key = make_ca(pki, "Bench")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ack)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"https://127.0.0.1:{server.server_port}", ca, server


def installed_agent(tmp: Path) -> Path:
    """The agent as install.sh installs it: a virtualenv of its own with the package (not an
    editable install) and the agent extra only. Returns the venv's bin folder."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{ROOT}[agent]"],
        check=True,
    )
    return venv / "bin"


# What any agent on this stack loads before doing anything (see the module docstring).
FLOOR = """
import logging, sqlite3, ssl, sys, threading, zlib
import psutil
context = ssl.create_default_context(cafile=sys.argv[1])
db = sqlite3.connect(sys.argv[2])
db.execute("PRAGMA journal_mode=WAL")
psutil.cpu_times()
logging.getLogger("floor").info("ready")
zlib.compress(b"floor")
threading.Event().wait()
"""


def windows_rows(tmp: Path, seconds: float) -> list[dict[str, float | str]]:
    """The Windows agent and the same floor, run by python.org's Windows CPython under Wine
    (tests/wine.py), against an HTTPS sink on loopback: RSS of the Wine process as Linux counts
    it, which includes Wine's own libraries (hence the floor beside it)."""
    from tests.wine import run_windows

    rows: list[dict[str, float | str]] = []
    with run_windows(tmp / "wine") as windows:
        url, ca, server = tls_sink(windows.scratch / "pki")
        root = windows.scratch / "agent"
        root.mkdir()
        (root / "token").write_text("bench\n")
        (root / "agent.toml").write_text(
            f'[agent]\nsite = "bench"\nhost = "pc"\ninterval = {int(CYCLE)}\n'
            "smart_interval = 86400\ninventory_interval = 86400\n"
            f'[collector]\nurl = "{url}"\ntoken_file = "token"\n'
            f"ca_file = '{windows.path(ca)}'\n"  # a literal string: Windows paths hold backslashes
            '[spool]\npath = "spool.db"\n'
        )
        floor = windows.scratch / "floor.py"
        floor.write_text(FLOOR)
        for name, argv, warmup in (
            (
                "vigie-agent on Windows CPython 3.11 under Wine (HTTPS)",
                ["-m", "agent.cli", "run", "--config", windows.path(root / "agent.toml")],
                40.0,
            ),
            (
                "floor on Windows CPython 3.11 under Wine, idle",
                [windows.path(floor), windows.path(ca), windows.path(root / "floor.db")],
                10.0,
            ),
        ):
            command = windows.command(r"C:\Python311\python.exe", *argv)
            # A pipe, not /dev/null: the Windows Python cannot start with a file as its output
            # (the agent writes a few lines at start, far less than a pipe holds).
            rows.append(measure(name, command, seconds, None, warmup, windows.env, subprocess.PIPE))
        server.shutdown()
    return rows


def low_free_port() -> int:
    """A free port below 32768: zabbix_agentd refuses a ListenPort above 32767."""
    for port in range(23050, 32767):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


def zabbix_get(port: int, key: str) -> None:
    """One passive check, Zabbix protocol (ZBXD header + key)."""
    data = key.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"ZBXD\x01" + struct.pack("<Q", len(data)) + data)
        while sock.recv(65536):
            pass


# What a Zabbix "Linux by Zabbix agent" template asks for each minute, roughly.
ZABBIX_ITEMS = [
    "system.cpu.util[,user]",
    "system.cpu.util[,system]",
    "system.cpu.util[,idle]",
    "system.cpu.util[,iowait]",
    "system.cpu.load[all,avg1]",
    "system.cpu.load[all,avg5]",
    "vm.memory.size[available]",
    "vm.memory.size[total]",
    "system.swap.size[,free]",
    "system.uptime",
    "system.boottime",
    "proc.num[]",
    "proc.num[,,run]",
    "system.users.num",
    "vfs.fs.size[/,used]",
    "vfs.fs.size[/,pused]",
    "vfs.fs.inode[/,pfree]",
    "vfs.dev.read[vda,sectors]",
    "vfs.dev.write[vda,sectors]",
    "net.if.in[eth0]",
    "net.if.out[eth0]",
    "net.if.in[eth0,errors]",
    "net.if.out[eth0,errors]",
]


def main() -> None:
    """Measure every program and print a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--windows", action="store_true", help="also the Windows agent under Wine (tests/wine.py)"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url, ca, server = tls_sink(Path(tmp) / "pki")
        bin_dir = installed_agent(Path(tmp))
        (Path(tmp) / "token").write_text("bench\n")
        config = Path(tmp) / "agent.toml"
        config.write_text(
            f'[agent]\nsite = "bench"\nhost = "pc"\ninterval = {int(CYCLE)}\n'
            "smart_interval = 86400\n"
            f'inventory_interval = 86400\n[collector]\nurl = "{url}"\ntoken_file = "token"\n'
            f'ca_file = "{ca}"\n[spool]\npath = "spool.db"\n'
        )
        agent = str(bin_dir / "vigie-agent")
        results.append(
            measure(
                "vigie-agent (as installed, HTTPS)",
                [agent, "run", "--config", str(config)],
                args.seconds,
                warmup=70,
            )
        )  # past its random start offset and first inventory
        server.shutdown()
        floor = Path(tmp) / "floor.py"
        floor.write_text(FLOOR)
        results.append(
            measure(
                "floor: CPython + ssl + sqlite3 + psutil + logging, idle",
                [str(bin_dir / "python"), str(floor), str(ca), str(Path(tmp) / "floor.db")],
                args.seconds,
            )
        )

        port = free_port()
        scrape_url = f"http://127.0.0.1:{port}/metrics"

        def scrape() -> None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(scrape_url, timeout=10).read()

        results.append(
            measure(
                "prometheus-node-exporter (per scrape)",
                ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}"],
                args.seconds,
                per_cycle=scrape,
            )
        )

        zport = low_free_port()
        zconf = Path(tmp) / "zabbix_agentd.conf"
        zconf.write_text(
            f"Server=127.0.0.1\nListenIP=127.0.0.1\nListenPort={zport}\nStartAgents=3\n"
            f"PidFile={tmp}/zabbix.pid\nLogType=console\nHostname=bench\n"
            "AllowRoot=1\n"
        )

        def poll() -> None:
            for key in ZABBIX_ITEMS:
                with contextlib.suppress(OSError):
                    zabbix_get(zport, key)

        results.append(
            measure(
                "zabbix_agentd (23 passive items)",
                ["zabbix_agentd", "-f", "-c", str(zconf)],
                args.seconds,
                per_cycle=poll,
            )
        )
        results.append(
            measure(
                "glances (CSV export)",
                [
                    "glances",
                    "-q",
                    "-t",
                    str(int(CYCLE)),
                    "--export",
                    "csv",
                    "--export-csv-file",
                    f"{tmp}/glances.csv",
                    "--disable-webui",
                ],
                args.seconds,
                warmup=10,
            )
        )
        if args.windows:
            results += windows_rows(Path(tmp), args.seconds)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agent_footprint.json").write_text(json.dumps(results, indent=2) + "\n")
    base = next(r for r in results if str(r["program"]).startswith("prometheus"))
    print(
        "| program | RSS (MiB) | CPU per cycle (ms) | RSS vs node_exporter | CPU vs node_exporter |"
    )
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['program']} | {r['rss_mib']:.1f} | {r['cpu_ms_per_cycle']:.1f} | "
            f"{float(r['rss_mib']) / float(base['rss_mib']):.2f} | "
            f"{float(r['cpu_ms_per_cycle']) / max(float(base['cpu_ms_per_cycle']), 0.01):.2f} |"
        )


if __name__ == "__main__":
    main()
