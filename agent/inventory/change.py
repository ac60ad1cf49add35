"""Whether an inventory changed: a fingerprint of what matters in the document. Apart from the
document's assembly (glpi.py) because the resident agent and the site poller need only this."""

from __future__ import annotations

import json
import zlib
from typing import Any

# Parts of the document that change without anything being installed or removed; left out of
# the change hash so that free space or a reboot alone does not resend the inventory.
_VOLATILE = {
    ("operatingsystem", "boot_time"),
    ("drives", "free"),
    ("hardware", "lastloggeduser"),
    ("network_device", "uptime"),
    ("network_ports", "iflastchange"),
    ("network_ports", "ifstatus"),
}
# Sections that are readings, not equipment: page counters and toner levels move every day.
_VOLATILE_SECTIONS = {"accesslog", "pagecounters", "cartridges"}


def change_hash(document: dict[str, Any]) -> str:
    """A fingerprint of what matters in the document (volatile values and dates left out)."""
    content = {k: v for k, v in document["content"].items() if k not in _VOLATILE_SECTIONS}
    stable: dict[str, Any] = {}
    for section, value in content.items():
        if isinstance(value, list):
            stable[section] = [
                {k: v for k, v in item.items() if (section, k) not in _VOLATILE} for item in value
            ]
        elif isinstance(value, dict):
            stable[section] = {k: v for k, v in value.items() if (section, k) not in _VOLATILE}
        else:
            stable[section] = value
    text = json.dumps(stable, sort_keys=True, ensure_ascii=False).encode()
    # CRC-32 and length, not SHA-256: hashlib costs the resident agent 0.6 MiB, and this only
    # decides whether to send early; a changed document that collides still goes out at the
    # next `inventory_interval`.
    return f"{zlib.crc32(text):08x}-{len(text)}"
