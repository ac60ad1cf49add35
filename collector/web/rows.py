"""What each row of a page holds: the records the page modules build and the templates read
(attributes, so a misspelt column is an error in mypy, not a blank cell)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AlertLine:
    """An alert as the alert tables show it."""

    id: int
    site: str
    host: str
    rule: str
    state: str
    severity: str
    summary: str
    since_text: str
    value_text: str
    action: str  # what to do, while firing
    quiet: str  # why no mail is sent (silence, maintenance, inhibited, acked), while firing
    acked_by: str  # who acknowledged it, as people read it ("" when nobody did)
    ack_comment: str = ""
    ended_text: str = ""  # when it ended (resolved ones)
    lasted: str = ""  # how long it lasted (resolved ones)


@dataclass(slots=True)
class SiteLine:
    """A commune on the fleet page, counted host by host and alert by alert."""

    site: str
    hosts: int = 0
    silent: int = 0
    seen: int = 0
    critical: int = 0
    warning: int = 0
    status: str = "ok"  # critical | warning | ok
    last_seen: str = ""


@dataclass(frozen=True, slots=True)
class HostLine:
    """A device on its commune's page."""

    host: str
    kind: str
    status: str
    silent: bool
    up: bool | None  # None: not pinged
    last_seen: str


@dataclass(frozen=True, slots=True)
class FoundLine:
    """A device found by the fleet's search, and why."""

    site: str
    host: str
    why: str  # its name holds the text, or its inventory does


@dataclass(frozen=True, slots=True)
class SilentLine:
    """A device without news."""

    site: str
    host: str
    kind: str
    last_seen: str
    silent_for: str


@dataclass(frozen=True, slots=True)
class SkewedLine:
    """A sender whose clock is wrong (points dropped outside the time window)."""

    site: str
    host: str
    kind: str  # too_old | future
    dropped: int
    last_text: str


@dataclass(frozen=True, slots=True)
class InventoryLine:
    """The inventory columns of one device (also the CSV export's)."""

    site: str
    host: str
    itemtype: str
    os: str
    model: str
    serial: str
    ram: str  # GiB with one decimal, "" when unknown


@dataclass(frozen=True, slots=True)
class ChangeLine:
    """A change of a device's inventory."""

    when: str
    text: str


@dataclass(frozen=True, slots=True)
class Gauge:
    """A level drawn as a gauge, with its value in words beside it."""

    percent: float
    text: str


@dataclass(frozen=True, slots=True)
class Table:
    """A titled table of the device page (inventory, SMART, supplies, UPS)."""

    title: str
    columns: list[str]
    rows: list[list[object]] = field(default_factory=list)
