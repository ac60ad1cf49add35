"""Builds the Grafana dashboards (InfluxQL on the measurements Vigie writes) as JSON files.

Run `python -m dashboards.build` after changing this file; a test checks that the committed
JSON equals what this script produces. Each dashboard has a datasource variable (`DS`), so
file provisioning works as is (no `${DS_…}` import placeholders).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DS = {"type": "influxdb", "uid": "${DS}"}
SCHEMA_VERSION = 39


def variable_ds() -> dict[str, Any]:
    """The datasource variable every panel uses."""
    return {
        "type": "datasource",
        "name": "DS",
        "label": "InfluxDB",
        "query": "influxdb",
        "refresh": 1,
        "hide": 0,
        "options": [],
    }


def variable(name: str, label: str, query: str, multi: bool = False) -> dict[str, Any]:
    """A query variable over tag values."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "hide": 0,
        "options": [],
    }


SITE = variable("site", "Commune", 'SHOW TAG VALUES FROM "system" WITH KEY = "site"')


def host_variable(measurement: str) -> dict[str, Any]:
    """Hosts of the chosen site that send `measurement`."""
    return variable(
        "host",
        "Machine",
        f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "host" WHERE "site" =~ /^$site$/',
    )


class Layout:
    """Places panels left to right, 24 columns wide."""

    def __init__(self) -> None:
        self.x = self.y = 0
        self.row_height = 0
        self.next_id = 1

    def place(self, width: int, height: int) -> dict[str, int]:
        if self.x + width > 24:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0
        pos = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.x += width
        self.row_height = max(self.row_height, height)
        return pos

    def panel(
        self,
        kind: str,
        title: str,
        queries: list[str],
        unit: str = "short",
        width: int = 12,
        height: int = 8,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A panel with raw InfluxQL queries (refs A, B, …)."""
        panel: dict[str, Any] = {
            "type": kind,
            "id": self.next_id,
            "title": title,
            "datasource": DS,
            "gridPos": self.place(width, height),
            "targets": [
                {
                    "refId": chr(65 + i),
                    "datasource": DS,
                    "rawQuery": True,
                    "query": q,
                    "resultFormat": "table" if kind == "table" else "time_series",
                }
                for i, q in enumerate(queries)
            ],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
        }
        panel.update(extra or {})
        self.next_id += 1
        return panel


def dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]
) -> dict[str, Any]:
    """A whole dashboard."""
    return {
        "uid": uid,
        "title": title,
        "tags": ["vigie"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "panels": panels,
        "templating": {"list": [variable_ds(), *variables]},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "title": "Vigie",
                "tags": ["vigie"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "tooltip": "",
                "targetBlank": False,
            }
        ],
    }


WHERE_SITE = '"site" =~ /^$site$/ AND $timeFilter'
WHERE_HOST = '"site" =~ /^$site$/ AND "host" =~ /^$host$/ AND $timeFilter'


def fleet() -> dict[str, Any]:
    """Every commune at a glance."""
    lay = Layout()
    panels = [
        lay.panel("table", "Disques les plus pleins", [
            'SELECT last("used_percent") AS "occupé %" FROM "disk" WHERE ' + WHERE_SITE
            + ' GROUP BY "site", "host", "path"'], unit="percent", width=12, height=10),
        lay.panel("table", "Machines muettes (dernier signe de vie)", [
            'SELECT last("spool_batches") AS "en attente" FROM "vigie_agent" WHERE '
            + WHERE_SITE + ' GROUP BY "site", "host"'], width=12, height=10),
        lay.panel("timeseries", "Processeur occupé (moyenne par commune)", [
            'SELECT 100 - mean("usage_idle") FROM "cpu" WHERE "cpu" = \'cpu-total\' AND '
            + WHERE_SITE + ' GROUP BY time($__interval), "site" fill(none)'], unit="percent"),
        lay.panel("timeseries", "Équipements injoignables", [
            'SELECT count("up") FROM "ping" WHERE "up" = false AND ' + WHERE_SITE
            + ' GROUP BY time($__interval), "site" fill(0)']),
        lay.panel("table", "Consommables d'impression", [
            'SELECT last("percent") AS "niveau %" FROM "printer_supply" WHERE ' + WHERE_SITE
            + ' GROUP BY "site", "host", "supply"'], unit="percent", width=12),
        lay.panel("table", "Onduleurs", [
            'SELECT last("runtime_minutes") AS "autonomie (min)", last("output_source") AS "source" '
            'FROM "ups" WHERE ' + WHERE_SITE + ' GROUP BY "site", "host"'], width=12),
    ]  # fmt: skip
    site = dict(SITE, multi=True, includeAll=True)
    return dashboard("vigie-fleet", "Vigie — parc des communes", panels, [site])


def host() -> dict[str, Any]:
    """One workstation or server."""
    lay = Layout()
    panels = [
        lay.panel("timeseries", "Processeur", [
            'SELECT 100 - mean("usage_idle") AS "occupé" FROM "cpu" WHERE "cpu" = \'cpu-total\' AND '
            + WHERE_HOST + ' GROUP BY time($__interval) fill(none)'], unit="percent"),
        lay.panel("timeseries", "Mémoire", [
            'SELECT mean("used_percent") AS "utilisée" FROM "mem" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)'], unit="percent"),
        lay.panel("timeseries", "Disques", [
            'SELECT mean("used_percent") FROM "disk" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval), "path" fill(none)'], unit="percent"),
        lay.panel("timeseries", "Réseau", [
            'SELECT non_negative_derivative(mean("bytes_recv"), 1s) * 8 AS "reçu" FROM "net" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "interface" fill(none)',
            'SELECT non_negative_derivative(mean("bytes_sent"), 1s) * 8 AS "envoyé" FROM "net" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "interface" fill(none)'], unit="bps"),
        lay.panel("timeseries", "Températures", [
            'SELECT mean("temp") FROM "temp" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval), "sensor" fill(none)'], unit="celsius"),
        lay.panel("table", "SMART", [
            'SELECT last("health_ok") AS "santé", last("temp_c") AS "°C", '
            'last("power_on_hours") AS "heures" FROM "smart_device" WHERE ' + WHERE_HOST
            + ' GROUP BY "device", "model"',
            'SELECT last("raw_value") AS "brut" FROM "smart_attribute" WHERE ' + WHERE_HOST
            + ' GROUP BY "device", "name"'], width=12),
        lay.panel("timeseries", "Temps de fonctionnement (une chute = redémarrage)", [
            'SELECT last("uptime") / 3600 AS "heures" FROM "system" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)'], unit="h"),
        lay.panel("timeseries", "Agent Vigie : lots en attente", [
            'SELECT max("spool_batches") FROM "vigie_agent" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)']),
    ]  # fmt: skip
    return dashboard("vigie-host", "Vigie — poste", panels, [SITE, host_variable("cpu")])


def network() -> dict[str, Any]:
    """Routers and switches: interfaces, errors, reachability."""
    lay = Layout()
    panels = [
        lay.panel("timeseries", "Débit entrant", [
            'SELECT non_negative_derivative(mean("in_octets"), 1s) * 8 FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)'], unit="bps"),
        lay.panel("timeseries", "Débit sortant", [
            'SELECT non_negative_derivative(mean("out_octets"), 1s) * 8 FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)'], unit="bps"),
        lay.panel("timeseries", "Erreurs par seconde", [
            'SELECT non_negative_derivative(max("in_errors"), 1s) AS "entrée" FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)',
            'SELECT non_negative_derivative(max("out_errors"), 1s) AS "sortie" FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)']),
        lay.panel("table", "Ports (1 = actif, 2 = tombé)", [
            'SELECT last("oper_status") AS "état", last("admin_status") AS "activé", '
            'last("speed") AS "vitesse" FROM "interface" WHERE ' + WHERE_HOST
            + ' GROUP BY "ifname"']),
        lay.panel("timeseries", "Joignabilité (ms)", [
            'SELECT mean("average_response_ms") FROM "ping" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)'], unit="ms"),
        lay.panel("timeseries", "Pertes (%)", [
            'SELECT mean("percent_packet_loss") FROM "ping" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)'], unit="percent"),
    ]  # fmt: skip
    return dashboard(
        "vigie-network", "Vigie — équipement réseau", panels, [SITE, host_variable("interface")]
    )


def printers_ups() -> dict[str, Any]:
    """Supplies, page counts and UPS state."""
    lay = Layout()
    panels = [
        lay.panel("timeseries", "Consommables (%)", [
            'SELECT mean("percent") FROM "printer_supply" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host", "supply" fill(none)'], unit="percent"),
        lay.panel("timeseries", "Pages imprimées par jour", [
            'SELECT non_negative_difference(last("page_count")) FROM "printer" WHERE ' + WHERE_SITE
            + ' GROUP BY time(1d), "host" fill(none)']),
        lay.panel("timeseries", "Onduleurs : autonomie (min)", [
            'SELECT mean("runtime_minutes") FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)'], unit="m"),
        lay.panel("timeseries", "Onduleurs : charge et batterie (%)", [
            'SELECT mean("load_percent") AS "charge" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)',
            'SELECT mean("charge_percent") AS "batterie" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)'], unit="percent"),
        lay.panel("timeseries", "Onduleurs : tensions (V)", [
            'SELECT mean("input_voltage") AS "entrée" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)',
            'SELECT mean("output_voltage") AS "sortie" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)'], unit="volt", width=24),
    ]  # fmt: skip
    return dashboard("vigie-printers-ups", "Vigie — imprimantes et onduleurs", panels, [SITE])


DASHBOARDS = {
    "fleet.json": fleet,
    "host.json": host,
    "network.json": network,
    "printers-ups.json": printers_ups,
}


def render(build: Any) -> str:
    """One dashboard's file content."""
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    """Write every dashboard next to this script."""
    for name, build in DASHBOARDS.items():
        (HERE / name).write_text(render(build), encoding="utf-8")


if __name__ == "__main__":
    main()
