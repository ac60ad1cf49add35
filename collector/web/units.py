"""Readings as a technician reads them: units, decimal commas in French, French dates."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from collector.notify.compose import localized

# Prefixes per unit: bytes in the French octets (Go) or the English bytes (GB), bits per
# second in SI steps.
_BYTES = {"fr": ("o", "Ko", "Mo", "Go", "To"), "en": ("B", "KB", "MB", "GB", "TB")}
_BITS = ("bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s")
MONTHS = {
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
}


def scaled(value: float, steps: tuple[str, ...], base: float, language: str) -> str:
    """`value` in the largest step below it: 1536 bytes -> "1,5 Ko"."""
    index = 0
    while abs(value) >= base and index < len(steps) - 1:
        value /= base
        index += 1
    return f"{localized(value, language)} {steps[index]}"


def reading(value: float, unit: str, language: str) -> str:
    """A value with its unit: "95,0 %", "1,5 Go", "12 Mbit/s", "27 °C", "18 min"."""
    if unit == "bytes":
        return scaled(value, _BYTES[language], 1024, language)
    if unit == "bit/s":
        return scaled(value, _BITS, 1000, language)
    if unit == "%":
        return f"{value:.1f}".replace(".", "," if language == "fr" else ".") + " %"
    return f"{localized(value, language)} {unit}".strip()


def moment(ts: int, zone: ZoneInfo, language: str, span: int) -> str:
    """A time on an axis of `span` seconds: "14:05", "3 déc. 14:05", "3 déc.", "déc. 2026"."""
    local = datetime.fromtimestamp(ts, zone)
    month = MONTHS[language][local.month - 1]
    day = f"{local.day} {month}" if language == "fr" else f"{month} {local.day}"
    if span <= 36 * 3600:
        return f"{local:%H:%M}"
    if span <= 10 * 86400:
        return f"{day} {local:%H:%M}"
    if span <= 120 * 86400:
        return day
    return f"{month} {local.year}"


# A supply named by colour and kind, as most printers name theirs ("Black Toner",
# "Cyan Toner [C] Cartridge"): said in French on French pages. Other names stay the device's.
_SUPPLY = re.compile(
    r"^(?P<colour>black|cyan|magenta|yellow)\s+(?P<kind>toner|ink|drum)"
    r"(?:\s+cartridge)?(?:\s+\[[kcmy]\])?(?:\s+cartridge)?$",
    re.IGNORECASE,
)
_SUPPLY_WORDS = {
    "black": "noir", "cyan": "cyan", "magenta": "magenta", "yellow": "jaune",
    "toner": "Toner", "ink": "Encre", "drum": "Tambour",
}  # fmt: skip


def supply_label(name: str, language: str) -> str:
    """A printer supply's name for the page: "Black Toner" -> "Toner noir" in French."""
    found = _SUPPLY.match(name.strip())
    if language != "fr" or found is None:
        return name
    kind, colour = (_SUPPLY_WORDS[found[k].lower()] for k in ("kind", "colour"))
    return f"{kind} {colour}"
