"""SNMPv2-MIB system group: uptime (a drop means the device rebooted)."""

from __future__ import annotations

from agent.poller.snmp import SnmpSession, integers
from protocol.lineproto import Point

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_CONTACT = "1.3.6.1.2.1.1.4.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """`system` with `uptime` in seconds (sysUpTime is in hundredths)."""
    found = integers(await session.get(SYS_UPTIME), {"sysUpTime": SYS_UPTIME})
    if "sysUpTime" not in found:  # some UPS cards leave the system group out
        return []
    return [Point("system", {}, {"uptime": found["sysUpTime"] // 100}, now)]
