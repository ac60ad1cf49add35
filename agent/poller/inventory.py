"""A polled device's inventory from SNMP, in GLPI's format (itemtype NetworkEquipment or
Printer): model, serial, firmware, ports with their addresses, cartridges, page counters."""

from __future__ import annotations

from typing import Any

from agent import __version__
from agent.inventory.glpi import clean
from agent.poller import interfaces, printer, system
from agent.poller.computer import computer_sections
from agent.poller.snmp import SnmpSession, Value, mac, number, text

IP_ADDR_TABLE = "1.3.6.1.2.1.4.20.1"
ENT_PHYSICAL = "1.3.6.1.2.1.47.1.1.1.1"
ENTITY_COLUMNS = {
    "class": f"{ENT_PHYSICAL}.5",
    "firmware": f"{ENT_PHYSICAL}.9",
    "software": f"{ENT_PHYSICAL}.10",
    "serial": f"{ENT_PHYSICAL}.11",
    "manufacturer": f"{ENT_PHYSICAL}.12",
    "model": f"{ENT_PHYSICAL}.13",
}
ENT_CHASSIS = 3
PRINTER_SERIAL = "1.3.6.1.2.1.43.5.1.1.17.1"
HR_DEVICE_DESCR = "1.3.6.1.2.1.25.3.2.1.3"
UPS_IDENT = {
    "manufacturer": "1.3.6.1.2.1.33.1.1.1.0",
    "model": "1.3.6.1.2.1.33.1.1.2.0",
    "firmware": "1.3.6.1.2.1.33.1.1.3.0",
}
XUPS_IDENT = {
    "manufacturer": "1.3.6.1.4.1.534.1.1.1.0",
    "model": "1.3.6.1.4.1.534.1.1.2.0",
    "firmware": "1.3.6.1.4.1.534.1.1.3.0",
}
# APC's upsBasicIdentModel, upsAdvIdentFirmwareRevision, upsAdvIdentSerialNumber, at the same
# place in CyberPower's CPS-MIB.
POWERNET_IDENT, CPS_IDENT = (
    {"model": f"{base}.1.1.1.0", "firmware": f"{base}.1.2.1.0", "serial": f"{base}.1.2.3.0"}
    for base in ("1.3.6.1.4.1.318.1.1.1", "1.3.6.1.4.1.3808.1.1.1")
)
# Socomec NET VISION's upsIdentModel, upsIdentUpsFirmwareVersion, upsIdentUpsSerialNumber
# (firmware 5 and 6).
NETVISION5_IDENT, NETVISION6_IDENT = (
    {"model": f"{base}.1.1.0", "firmware": f"{base}.1.2.0", "serial": f"{base}.1.4.0"}
    for base in ("1.3.6.1.4.1.4555.1.1.1.1", "1.3.6.1.4.1.4555.1.1.7.1")
)
# IANA enterprise numbers of the makers a commune meets, from sysObjectID.
ENTERPRISES = {
    9: "Cisco", 11: "Hewlett-Packard", 43: "3Com", 171: "D-Link", 253: "Xerox", 311: "Microsoft",
    318: "APC", 367: "Ricoh", 534: "Eaton", 641: "Lexmark", 705: "Eaton", 1347: "Kyocera",
    1602: "Canon", 2011: "Huawei", 2435: "Brother", 2636: "Juniper", 3808: "CyberPower",
    4526: "Netgear", 4555: "Socomec",
    6574: "Synology", 8072: "net-snmp", 11863: "TP-Link", 14988: "MikroTik",
    18334: "Konica Minolta", 24681: "QNAP", 41112: "Ubiquiti",
}  # fmt: skip
# Device kind -> GLPI itemtype and network_device.type
ITEMTYPES = {"printer": ("Printer", "Printer"), "ups": ("NetworkEquipment", "Power"),
             "nas": ("NetworkEquipment", "Storage")}  # fmt: skip


def uptime_text(ticks: int) -> str:
    """GLPI's 'X days, HH:MM:SS.hh' from TimeTicks."""
    seconds, hundredths = divmod(ticks, 100)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} days, {hours:02d}:{minutes:02d}:{secs:02d}.{hundredths:02d}"


def manufacturer(object_id: Value) -> str:
    """The maker named by sysObjectID's enterprise number ("" when unknown)."""
    prefix = "1.3.6.1.4.1."
    if isinstance(object_id, str) and object_id.startswith(prefix):
        number_text = object_id[len(prefix) :].split(".")[0]
        return ENTERPRISES.get(int(number_text), "") if number_text.isdigit() else ""
    return ""


async def _identity(session: SnmpSession, kind: str) -> dict[str, str]:
    found: dict[str, str] = {}
    chassis = [
        r for r in (await session.walk(ENTITY_COLUMNS)).values() if r.get("class") == ENT_CHASSIS
    ]
    if chassis:
        row = chassis[0]
        for key in ("serial", "model", "manufacturer"):
            if text(row.get(key)):
                found[key] = text(row.get(key))
        firmware = text(row.get("software")) or text(row.get("firmware"))
        if firmware:
            found["firmware"] = firmware
    if kind == "printer":
        values = await session.get(PRINTER_SERIAL)
        serial = text(values.get(PRINTER_SERIAL))
        if serial:
            found.setdefault("serial", serial)
        descrs = await session.walk({"d": HR_DEVICE_DESCR})
        if descrs:
            found.setdefault("model", text(next(iter(descrs.values())).get("d")))
    if kind == "ups":
        for oids in (
            UPS_IDENT,
            XUPS_IDENT,
            POWERNET_IDENT,
            CPS_IDENT,
            NETVISION5_IDENT,
            NETVISION6_IDENT,
        ):
            values = await session.get(*oids.values())
            for key, oid in oids.items():
                if text(values.get(oid)):
                    found.setdefault(key, text(values.get(oid)))
    return found


async def _ports(session: SnmpSession) -> tuple[list[dict[str, Any]], list[str]]:
    rows = await interfaces.interface_rows(session)
    names = interfaces.interface_names(rows)
    addresses = await session.walk({"ip": f"{IP_ADDR_TABLE}.1", "ifindex": f"{IP_ADDR_TABLE}.2"})
    by_index: dict[str, list[str]] = {}
    for entry in addresses.values():
        ip, index = entry.get("ip"), entry.get("ifindex")
        if isinstance(ip, str) and isinstance(index, int) and not ip.startswith("127."):
            by_index.setdefault(str(index), []).append(ip)
    ports = []
    for index, row in sorted(rows.items(), key=lambda item: int(item[0].split(".")[0])):
        ports.append(
            {
                "ifnumber": int(index.split(".")[0]),
                "ifname": names[index],
                "ifdescr": text(row.get("descr")),
                "ifalias": text(row.get("alias")),
                "iftype": number(row.get("type")),
                "ifmtu": number(row.get("mtu")),
                "ifspeed": interfaces.speed_bits(row),
                "ifstatus": number(row.get("oper")),
                "ifinternalstatus": number(row.get("admin")),
                "mac": mac(row.get("phys")),
                "ips": by_index.get(index, []),
            }
        )
    ips = [ip for index in sorted(by_index) for ip in by_index[index]]
    return ports, ips


# Printer-MIB supply type -> GLPI cartridge key prefix (the colour is appended).
_CARTRIDGE_KEYS = {
    "toner": "toner", "toner_cartridge": "toner", "ink": "cartridge", "ink_cartridge": "cartridge",
    "opc": "drum", "developer": "developer", "waste_toner": "wastetoner", "fuser": "fuserkit",
    "transfer_unit": "transferkit",
}  # fmt: skip
_COLOURED = {"toner", "cartridge", "drum", "developer"}


async def _cartridges(session: SnmpSession) -> list[dict[str, str]]:
    """GLPI `cartridges`: {"tonerblack": "71"} per supply whose level is known, in percent,
    with its description as the device gives it (`name`: part and serial numbers included,
    which the `printer_supply` series leave out)."""
    colorants = {
        index: text(row.get("v")).lower()
        for index, row in (await session.walk({"v": printer.COLORANT_VALUE})).items()
    }
    found = []
    for index, row in (await session.walk(printer.SUPPLY_COLUMNS)).items():
        fields = printer.supply_fields(row)
        kind = row.get("type")
        type_name = printer.SUPPLY_TYPES.get(kind, "other") if isinstance(kind, int) else "other"
        key = _CARTRIDGE_KEYS.get(type_name, type_name.replace("_", ""))
        if key in _COLOURED:
            colorant = number(row.get("colorant"))
            key += colorants.get(f"{index.split('.')[0]}.{colorant}", "")
        if "percent" in fields:
            found.append(
                {key: str(round(float(fields["percent"]))), "name": text(row.get("descr"))}
            )
    return found


def _networks(ports: list[dict[str, Any]]) -> list[dict[str, str]]:
    """GLPI `networks` of a computer: one entry per interface address."""
    return [
        {"description": p["ifdescr"] or p["ifname"], "mac": p["mac"], "ipaddress": ip}
        for p in ports
        if p["ips"]
        for ip in p["ips"]
    ]


async def device_inventory(
    session: SnmpSession, name: str, kind: str, address: str
) -> dict[str, Any]:
    """The GLPI document of one SNMP device."""
    values = await session.get(
        system.SYS_DESCR, system.SYS_OBJECT_ID, system.SYS_UPTIME, system.SYS_CONTACT,
        system.SYS_LOCATION, system.SYS_NAME,
    )  # fmt: skip
    itemtype, device_type = ITEMTYPES.get(kind, ("NetworkEquipment", "Networking"))
    identity = await _identity(session, kind)
    ports, ips = await _ports(session)
    ticks = values.get(system.SYS_UPTIME)
    device: dict[str, Any] = {
        "type": device_type,
        "name": name,
        "description": text(values.get(system.SYS_DESCR)),
        "location": text(values.get(system.SYS_LOCATION)),
        "contact": text(values.get(system.SYS_CONTACT)),
        "manufacturer": identity.get("manufacturer")
        or manufacturer(values.get(system.SYS_OBJECT_ID)),
        "model": identity.get("model", ""),
        "serial": identity.get("serial", ""),
        "firmware": identity.get("firmware", ""),
        "uptime": uptime_text(ticks) if isinstance(ticks, int) else "",
        "ips": ips,
        "mac": next((p["mac"] for p in ports if p["mac"]), ""),
    }
    content: dict[str, Any] = {
        "versionclient": f"vigie-agent-{__version__}",
        "network_device": device,
        "network_ports": ports,
    }
    if kind == "printer":
        content["cartridges"] = await _cartridges(session)
        counts = await session.walk({"count": printer.LIFE_COUNT})
        if counts:
            total = sum(v for r in counts.values() if isinstance(v := r.get("count"), int))
            content["pagecounters"] = {"total": total}
    action = "netinventory"
    if kind == "windows":  # a Computer, as GLPI's agent would have sent it
        content = {"versionclient": content["versionclient"], "networks": _networks(ports)}
        content.update(await computer_sections(session, device["description"], name))
        itemtype, action = "Computer", "inventory"
    serial = device["serial"] or address
    return {
        "action": action,
        "deviceid": f"{name}-{serial}".replace(" ", "_"),
        "itemtype": itemtype,
        "content": clean(content),
    }
