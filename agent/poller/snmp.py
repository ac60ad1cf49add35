"""SNMP access for the poller: one pysnmp engine per event loop, GET and column walks by GETBULK
with numeric OIDs only, bounded in-flight requests, and errors that say what went wrong."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from pyasn1.type import univ
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    usmAesCfb128Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from agent.poller.credentials import AUTH_NAMES, PRIV_NAMES, SnmpCredentials

Value = int | str | bytes | None
Row = dict[str, Value]

AUTH_PROTOCOLS = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    "DES": usmDESPrivProtocol,
    "AES": usmAesCfb128Protocol,
    "AES256": usmAesCfb256Protocol,
}
assert set(AUTH_PROTOCOLS) == set(AUTH_NAMES) and set(PRIV_PROTOCOLS) == set(PRIV_NAMES)

# Walks stop here even on a device that keeps answering: a guard against garbage, not a limit
# a real table reaches.
MAX_ROWS = 20000


class SnmpError(Exception):
    """A device did not answer as SNMP should; the message is the device's poll status."""


def auth_data(creds: SnmpCredentials) -> CommunityData | UsmUserData:
    """pysnmp's credentials object."""
    if creds.version == "2c":
        # v2c is what most commune devices speak; v3 is offered wherever they support it.
        return CommunityData(creds.community, mpModel=1)  # noqa: S508
    auth = AUTH_PROTOCOLS[creds.auth_protocol.upper()] if creds.auth_key else usmNoAuthProtocol
    priv = PRIV_PROTOCOLS[creds.priv_protocol.upper()] if creds.priv_key else usmNoPrivProtocol
    return UsmUserData(
        creds.user,
        creds.auth_key or None,
        creds.priv_key or None,
        authProtocol=auth,
        privProtocol=priv,
    )


def convert(value: Any) -> Value:
    """A pysnmp value as a Python one: int, bytes for strings, dotted str for OIDs and IPs;
    None for noSuchObject / noSuchInstance / endOfMibView."""
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, rfc1902.OctetString):
        return bytes(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, rfc1902.Integer | rfc1902.Integer32 | rfc1902.Unsigned32):
        return int(value)
    if isinstance(value, rfc1902.Counter32 | rfc1902.Counter64 | rfc1902.Gauge32):
        return int(value)
    if isinstance(value, rfc1902.TimeTicks):
        return int(value)
    return None


_HEX_TEXT = re.compile(r"^[0-9A-Fa-f]{2}(?:[ :][0-9A-Fa-f]{2})+[ :]?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text(value: Value) -> str:
    """A display string as devices really send it: trailing NULs and blanks removed, Windows'
    code page 1252 (else Latin-1) when not UTF-8, and hex dumps ("54 6F 6E 65 72") decoded
    when they hold printable text."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    raw = value if isinstance(value, bytes) else value.encode()
    raw = raw.rstrip(b"\x00 \t\r\n")
    try:
        decoded = raw.decode()
    except UnicodeDecodeError:
        try:  # Windows agents send their ANSI code page ("\x93" is a quote, not a control)
            decoded = raw.decode("cp1252")
        except UnicodeDecodeError:
            decoded = raw.decode("latin-1")
    if _HEX_TEXT.match(decoded):
        unhexed = bytes.fromhex(re.sub("[ :]", "", decoded)).rstrip(b"\x00")
        if unhexed and all(32 <= b < 127 for b in unhexed):
            decoded = unhexed.decode()
    return _CONTROL.sub("", decoded).strip()


def integers(values: Mapping[str, Value], oids: Mapping[str, str]) -> dict[str, int]:
    """The integer readings among `values`, by name. SnmpError when the device answered only
    with values of the wrong type (garbage is a status, not silently nothing)."""
    found = {name: v for name, oid in oids.items() if isinstance(v := values.get(oid), int)}
    wrong = [
        name for name, oid in oids.items() if values.get(oid) is not None and name not in found
    ]
    if wrong and not found:
        raise SnmpError(f"device sent non-integer values for {', '.join(wrong)}")
    return found


def number(value: Value) -> int | None:
    """An integer reading; strings of digits (some agents send "42") count too."""
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        try:
            return int(float(value.decode().strip()))
        except (UnicodeDecodeError, ValueError):
            return None
    return None


def mac(value: Value) -> str:
    """A MAC address from ifPhysAddress ("" when absent or not six bytes)."""
    if isinstance(value, bytes) and len(value) == 6:
        return ":".join(f"{b:02x}" for b in value)
    return ""


def _describe(indication: object, creds: SnmpCredentials) -> str:
    if isinstance(indication, errind.RequestTimedOut):
        if creds.version == "2c":
            return "no response (timeout): device down, SNMP off, or wrong community"
        return "no response (timeout): device down, SNMP off, or v3 user unknown"
    if isinstance(indication, errind.WrongDigest | errind.AuthenticationFailure):
        return "SNMPv3 authentication failed: wrong auth_key or auth_protocol"
    if isinstance(indication, errind.DecryptionError):
        return "SNMPv3 decryption failed: wrong priv_key or priv_protocol"
    if isinstance(indication, errind.UnknownUserName):
        return "SNMPv3 user unknown to the device"
    if isinstance(indication, errind.UnknownEngineID | errind.NotInTimeWindow):
        return f"SNMPv3 engine discovery failed: {indication}"
    return f"SNMP error: {indication}"


class SnmpSession:
    """One device's SNMP conversation; requests share the loop's in-flight bound."""

    def __init__(
        self,
        engine: SnmpEngine,
        target: UdpTransportTarget | Udp6TransportTarget,
        creds: SnmpCredentials,
        inflight: asyncio.Semaphore,
        max_repetitions: int = 25,
    ) -> None:
        self._engine = engine
        self._target = target
        self._creds = creds
        self._auth = auth_data(creds)
        self._context = ContextData(contextName=creds.context) if creds.context else ContextData()
        self._inflight = inflight
        self._repetitions = max_repetitions
        self.requests = 0
        self.varbinds = 0

    @classmethod
    async def open(
        cls,
        engine: SnmpEngine,
        host: str,
        creds: SnmpCredentials,
        inflight: asyncio.Semaphore,
    ) -> SnmpSession:
        """Resolve the device address and prepare a session."""
        kind = Udp6TransportTarget if ":" in host else UdpTransportTarget
        target = await kind.create((host, creds.port), timeout=creds.timeout, retries=creds.retries)
        return cls(engine, target, creds, inflight)

    def _check(self, indication: object, status: object, index: object) -> None:
        if indication:
            raise SnmpError(_describe(indication, self._creds))
        if status and int(status):  # type: ignore[call-overload]
            raise SnmpError(f"device answered with error {status} at varbind {index}")

    async def get(self, *oids: str) -> dict[str, Value]:
        """GET these scalars; missing ones map to None."""
        async with self._inflight:
            self.requests += 1
            indication, status, index, binds = await get_cmd(
                self._engine,
                self._auth,
                self._target,
                self._context,
                *(ObjectType(ObjectIdentity(oid)) for oid in oids),
                lookupMib=False,
            )
        self._check(indication, status, index)
        self.varbinds += len(binds)
        return {str(name): convert(value) for name, value in binds}

    async def walk(self, columns: Mapping[str, str]) -> dict[str, Row]:
        """Walk table columns together by GETBULK (like snmpbulkwalk, without leaving the
        table): {row index: {column name: value}}. Non-increasing OIDs end a column."""
        rows: dict[str, Row] = {}
        cursor = {name: oid for name, oid in columns.items()}
        while cursor:
            names = list(cursor)
            async with self._inflight:
                self.requests += 1
                indication, status, index, binds = await bulk_cmd(
                    self._engine,
                    self._auth,
                    self._target,
                    self._context,
                    0,
                    self._repetitions,
                    *(ObjectType(ObjectIdentity(cursor[n])) for n in names),
                    lookupMib=False,
                )
            self._check(indication, status, index)
            self.varbinds += len(binds)
            if not binds:
                break
            done: set[str] = set()
            for position, (oid, value) in enumerate(binds):
                name = names[position % len(names)]
                if name in done:
                    continue
                prefix = columns[name] + "."
                oid_text = str(oid)
                if (
                    isinstance(value, rfc1905.EndOfMibView)
                    or not oid_text.startswith(prefix)
                    or not _after(oid_text, cursor[name])
                ):
                    done.add(name)
                    continue
                rows.setdefault(oid_text[len(prefix) :], {})[name] = convert(value)
                cursor[name] = oid_text
            for name in done:
                cursor.pop(name, None)
            if len(rows) > MAX_ROWS:
                raise SnmpError(
                    f"table under {next(iter(columns.values()))} exceeds {MAX_ROWS} rows"
                )
        return rows


def _after(oid: str, previous: str) -> bool:
    return tuple(map(int, oid.split("."))) > tuple(map(int, previous.split(".")))
