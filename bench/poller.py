"""Site poller throughput: devices polled per minute by one poller, and varbinds per second of
its GETBULK walks next to net-snmp's `snmpbulkwalk` on the same agent, in the same run.

Peers: net-snmp snmpd (C, fast: the poller is the bottleneck) and snmpsim serving the recorded
Linux host (Python: the responder is the bottleneck). Run: .venv/bin/python -m bench.poller
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from agent.config import DeviceConfig
from agent.poller.credentials import SnmpCredentials
from agent.poller.poll import Poller
from agent.poller.snmp import SnmpSession
from tests.services import SnmpAgent, run_snmpd, run_snmpsim

RESULTS = Path(__file__).parent / "results"
# The tables a network device poll walks: ifTable, ifXTable, hrStorageTable.
TABLES = ("1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1", "1.3.6.1.2.1.25.2.3.1")
COLUMNS = {
    "1.3.6.1.2.1.2.2.1": range(1, 23),
    "1.3.6.1.2.1.31.1.1.1": range(1, 20),
    "1.3.6.1.2.1.25.2.3.1": range(1, 8),
}


def snmpbulkwalk(agent: SnmpAgent, community: str, rounds: int) -> tuple[int, float]:
    """(varbinds, seconds) for `rounds` walks of TABLES by net-snmp, one process per table."""
    varbinds, started = 0, time.perf_counter()
    for _ in range(rounds):
        for table in TABLES:
            out = subprocess.run(
                ["snmpbulkwalk", "-v2c", "-c", community, "-On", "-Cr25", agent.address, table],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            varbinds += len(out.splitlines())
    return varbinds, time.perf_counter() - started


async def vigie_walk(agent: SnmpAgent, community: str, rounds: int) -> tuple[int, float]:
    """(varbinds, seconds) for `rounds` walks of the same tables by the poller's session."""
    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    creds = SnmpCredentials.from_config(
        {"version": "2c", "community": community, "port": agent.port}
    )
    session = await SnmpSession.open(SnmpEngine(), agent.host, creds, asyncio.Semaphore(64))
    started = time.perf_counter()
    for _ in range(rounds):
        for table, columns in COLUMNS.items():
            await session.walk({str(c): f"{table}.{c}" for c in columns})
    return session.varbinds, time.perf_counter() - started


def devices(agent: SnmpAgent, community: str, count: int) -> list[DeviceConfig]:
    """`count` NAS-kind devices (interfaces, storage, UCD, sensors) all served by `agent`."""
    creds = SnmpCredentials.from_config(
        {"version": "2c", "community": community, "port": agent.port, "timeout": 10, "retries": 1}
    )
    return [
        DeviceConfig(f"nas{i:04d}", agent.host, "nas", 60, snmp=creds, reach="off")
        for i in range(count)
    ]


async def poll_round(targets: list[DeviceConfig]) -> dict[str, float]:
    """One poll of every device; wall time, failures, CPU."""
    poller = Poller()
    cpu = time.process_time()
    started = time.perf_counter()
    results = await poller.poll_all(targets, int(time.time()))
    wall = time.perf_counter() - started
    failed = sum(
        1 for points in results.values() for p in points
        if p.measurement == "device_poll" and not p.fields["ok"]
    )  # fmt: skip
    varbinds = sum(
        int(p.fields["varbinds"]) for points in results.values() for p in points
        if p.measurement == "device_poll"
    )  # fmt: skip
    return {
        "devices": len(targets),
        "seconds": round(wall, 2),
        "devices_per_minute": round(len(targets) * 60 / wall),
        "failed": failed,
        "varbinds": varbinds,
        "cpu_seconds": round(time.process_time() - cpu, 2),
    }


def main() -> None:
    """Measure, write bench/results/poller.json and print Markdown rows."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "snmpd").mkdir()
        with run_snmpd(Path(tmp) / "snmpd") as snmpd:
            net_vb, net_s = snmpbulkwalk(snmpd, snmpd.community, args.rounds)
            our_vb, our_s = asyncio.run(vigie_walk(snmpd, snmpd.community, args.rounds))
            report["walk_snmpd"] = {
                "snmpbulkwalk_varbinds_per_s": round(net_vb / net_s),
                "vigie_varbinds_per_s": round(our_vb / our_s),
                "ratio": round((our_vb / our_s) / (net_vb / net_s), 2),
            }
            report["poll_snmpd"] = asyncio.run(
                poll_round(devices(snmpd, snmpd.community, args.devices))
            )
        (Path(tmp) / "sim").mkdir()
        with run_snmpsim(Path(tmp) / "sim") as sim:
            community = "recorded/linux-full-walk"
            report["poll_snmpsim"] = asyncio.run(poll_round(devices(sim, community, args.devices)))
    report["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "poller.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
