"""The tables of a device page: SMART with named columns, supplies as gauges with the days
they have left, the UPS, and the inventory's changes as old -> new."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.rules.model import RuleSet
from collector.web.common import Page, when
from collector.web.device_charts import Source, forecasts
from collector.web.rows import ChangeLine, Gauge, Table
from collector.web.units import reading, supply_label
from collector.web.words import WORDS

# The SMART attributes that foretell a failure (Backblaze's): reallocated, reported
# uncorrectable, command timeouts, pending and offline uncorrectable sectors.
WATCHED_ATTRIBUTES = ("5", "187", "188", "197", "198")


def _smart(source: Source, t: Mapping[str, str], language: str) -> list[Table]:
    devices = source.newest.latest_samples("smart_device", source.site, source.host)
    if not devices:
        return []
    rows: list[list[object]] = []
    for _, tags, _, f in devices:
        temp = f.get("temp_c")
        rows.append([
            tags.get("device", ""), tags.get("model", ""), tags.get("serial_no", ""),
            t["smart_ok"] if f.get("health_ok") else t["smart_failed"],
            reading(float(temp), "°C", language) if isinstance(temp, int | float) else "",
            str(f.get("power_on_hours", "")),
        ])  # fmt: skip
    columns = [t["disk"], t["model"], t["serial"], t["health"], t["temperature"], t["power_on"]]
    tables = [Table(t["smart"], columns, rows)]
    attributes: list[list[object]] = [
        [tags.get("device", ""), tags.get("name", ""), str(f.get("raw_value", "")),
         t["smart_failing"] if tags.get("fail") not in (None, "", "-") else ""]
        for _, tags, _, f in source.newest.latest_samples("smart_attribute", source.site,
                                             source.host)
        if tags.get("id") in WATCHED_ATTRIBUTES or "id" not in tags
    ]  # fmt: skip
    if attributes:
        columns = [t["disk"], t["attribute"], t["raw_value"], t["failing"]]
        tables.append(Table(t["attributes"], columns, attributes))
    return tables


def _supplies(source: Source, rules: RuleSet, page: Page, moment: int) -> list[Table]:
    t = WORDS[page.language]
    supplies = source.newest.latest_samples("printer_supply", source.site, source.host)
    if not supplies:
        return []
    ends = {f.line: f.eta for f in forecasts(source, rules, "printer_supply", "percent",
                                             "supply", moment)}  # fmt: skip
    say = page.say
    rows: list[list[object]] = []
    for _, tags, _, f in supplies:
        name = str(tags.get("supply", ""))
        level = f.get("percent")
        gauge = (Gauge(float(level), reading(float(level), "%", page.language))
                 if isinstance(level, int | float) else str(f.get("state", "")))  # fmt: skip
        left = say.eta(ends[name], moment) if name in ends else ""
        kind = t.get(f"supply_{tags.get('type', '')}", tags.get("type", ""))
        rows.append([supply_label(name, page.language), kind, gauge, left])
    return [Table(t["supplies"], [t["supply"], t["type"], t["level"], t["empty_at"]], rows)]


def _ups(source: Source, t: Mapping[str, str], language: str) -> list[Table]:
    rows: list[list[object]] = []
    for _, _, _, f in source.newest.latest_samples("ups", source.site, source.host):
        values = [(f.get("runtime_minutes"), "min"), (f.get("charge_percent"), "%"),
                  (f.get("load_percent"), "%")]  # fmt: skip
        row: list[object] = [
            reading(float(v), unit, language) if isinstance(v, int | float) else ""
            for v, unit in values
        ]
        rows.append([*row, t["yes"] if f.get("output_source") == 5 else t["no"]])
    if not rows:
        return []
    return [Table(t["ups"], [t["runtime"], t["charge"], t["load"], t["on_battery"]], rows)]


def device_tables(source: Source, rules: RuleSet, page: Page, moment: int) -> list[Table]:
    """SMART, supplies and UPS tables from the newest samples."""
    t = WORDS[page.language]
    return (_smart(source, t, page.language) + _supplies(source, rules, page, moment)
            + _ups(source, t, page.language))  # fmt: skip


def change_line(change: Mapping[str, Any], page: Page) -> ChangeLine:
    """An inventory change in words: "Logiciel modifié : LibreOffice 7.5 → 7.6"."""
    t = WORDS[page.language]
    section = t.get(f"section_{change['section']}", change["section"])
    what = t.get(f"change_{change['change']}", change["change"])
    text = f"{section} — {what} : {change['item']}"
    before, after = change.get("before") or "", change.get("after") or ""
    if change["change"] == "changed" and (before or after):
        text += f" {before} → {after}"
    elif after and after != change["item"]:
        text += f" {after}"
    return ChangeLine(when(change["received"], page), text)
