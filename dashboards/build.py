"""Builds the Grafana dashboards as JSON files, in two dialects from one description: InfluxQL
for the InfluxDB mirror (`dashboards/*.json`) and MetricsQL for VictoriaMetrics
(`dashboards/victoriametrics/*.json`, `[series] backend = "victoriametrics"`). Every query is
written once per dialect, side by side in the same panel.

Run `python -m dashboards.build` after changing this file; a test checks that the committed
JSON equals what this script produces. Each dashboard has a datasource variable (`DS`), so
file provisioning works as is (no `${DS_…}` import placeholders).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).parent
SCHEMA_VERSION = 39


class Dialect(NamedTuple):
    """A datasource type and which of a query pair it reads."""

    plugin: str  # Grafana's datasource type
    label: str
    which: int  # 0: InfluxQL, 1: MetricsQL
    folder: Path

    @property
    def ds(self) -> dict[str, str]:
        return {"type": self.plugin, "uid": "${DS}"}

    def target(self, ref: str, query: str, table: bool) -> dict[str, Any]:
        """A panel target in this dialect."""
        if self.which == 0:
            return {"refId": ref, "datasource": self.ds, "rawQuery": True, "query": query,
                    "resultFormat": "table" if table else "time_series"}  # fmt: skip
        return {"refId": ref, "datasource": self.ds, "expr": query, "instant": table,
                "range": not table, "format": "table" if table else "time_series"}  # fmt: skip


INFLUXQL = Dialect("influxdb", "InfluxDB", 0, HERE)
METRICSQL = Dialect("prometheus", "VictoriaMetrics", 1, HERE / "victoriametrics")
Pair = tuple[str, str]  # (InfluxQL, MetricsQL)


def variable_ds(dialect: Dialect) -> dict[str, Any]:
    """The datasource variable every panel uses."""
    return {
        "type": "datasource",
        "name": "DS",
        "label": dialect.label,
        "query": dialect.plugin,
        "refresh": 1,
        "hide": 0,
        "options": [],
    }


def variable(
    dialect: Dialect, name: str, label: str, queries: Pair, multi: bool = False
) -> dict[str, Any]:
    """A query variable over tag values."""
    query = queries[dialect.which]
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": dialect.ds,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "hide": 0,
        "options": [],
    }


SITES: Pair = ('SHOW TAG VALUES FROM "system" WITH KEY = "site"', "label_values(site)")


def host_variable(dialect: Dialect, measurement: str, metric: str) -> dict[str, Any]:
    """Hosts of the chosen site that send `measurement` (`metric` in VictoriaMetrics)."""
    return variable(dialect, "host", "Machine", (
        f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "host" WHERE "site" =~ /^$site$/',
        f'label_values({metric}{{site=~"$site"}}, host)',
    ))  # fmt: skip


class Layout:
    """Places panels left to right, 24 columns wide."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
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
        queries: list[Pair],
        unit: str = "short",
        width: int = 12,
        height: int = 8,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A panel with its queries in the layout's dialect (refs A, B, …)."""
        dialect = self.dialect
        panel: dict[str, Any] = {
            "type": kind,
            "id": self.next_id,
            "title": title,
            "datasource": dialect.ds,
            "gridPos": self.place(width, height),
            "targets": [  # a query may exist in one dialect only (one field per MetricsQL query)
                dialect.target(chr(65 + i), q, kind == "table")
                for i, q in enumerate(q[dialect.which] for q in queries if q[dialect.which])
            ],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
        }
        panel.update(extra or {})
        self.next_id += 1
        return panel


def dashboard(
    dialect: Dialect, uid: str, title: str, panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """A whole dashboard (the VictoriaMetrics one under its own uid, so both can coexist)."""
    return {
        "uid": uid if dialect is INFLUXQL else f"{uid}-vm",
        "title": title if dialect is INFLUXQL else f"{title} (VictoriaMetrics)",
        "tags": ["vigie"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "panels": panels,
        "templating": {"list": [variable_ds(dialect), *variables]},
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
SITE_M = 'site=~"$site"'
HOST_M = 'site=~"$site",host=~"$host"'


def fleet(d: Dialect) -> dict[str, Any]:
    """Every commune at a glance."""
    lay = Layout(d)
    panels = [
        lay.panel("table", "Disques les plus pleins", [(
            'SELECT last("used_percent") AS "occupé %" FROM "disk" WHERE ' + WHERE_SITE
            + ' GROUP BY "site", "host", "path"',
            f"last_over_time(disk_used_percent{{{SITE_M}}}[1d])")],
            unit="percent", width=12, height=10),
        lay.panel("table", "Machines muettes (dernier signe de vie)", [(
            'SELECT last("spool_batches") AS "en attente" FROM "vigie_agent" WHERE '
            + WHERE_SITE + ' GROUP BY "site", "host"',
            f"time() - tlast_over_time(vigie_agent_spool_batches{{{SITE_M}}}[30d])")],
            width=12, height=10),
        lay.panel("timeseries", "Processeur occupé (moyenne par commune)", [(
            'SELECT 100 - mean("usage_idle") FROM "cpu" WHERE "cpu" = \'cpu-total\' AND '
            + WHERE_SITE + ' GROUP BY time($__interval), "site" fill(none)',
            f'100 - avg by (site) (cpu_usage_idle{{cpu="cpu-total",{SITE_M}}})')],
            unit="percent"),
        lay.panel("timeseries", "Équipements injoignables", [(
            'SELECT count("up") FROM "ping" WHERE "up" = false AND ' + WHERE_SITE
            + ' GROUP BY time($__interval), "site" fill(0)',
            f"count by (site) (ping_up{{{SITE_M}}} == 0)")]),
        lay.panel("table", "Consommables d'impression", [(
            'SELECT last("percent") AS "niveau %" FROM "printer_supply" WHERE ' + WHERE_SITE
            + ' GROUP BY "site", "host", "supply"',
            f"last_over_time(printer_supply_percent{{{SITE_M}}}[1d])")],
            unit="percent", width=12),
        lay.panel("table", "Onduleurs", [(
            'SELECT last("runtime_minutes") AS "autonomie (min)", last("output_source") AS "source" '
            'FROM "ups" WHERE ' + WHERE_SITE + ' GROUP BY "site", "host"',
            f"last_over_time(ups_runtime_minutes{{{SITE_M}}}[1d])"),
            ("", f"last_over_time(ups_output_source{{{SITE_M}}}[1d])")], width=12),
    ]  # fmt: skip
    site = dict(variable(d, "site", "Commune", SITES), multi=True, includeAll=True)
    return dashboard(d, "vigie-fleet", "Vigie — parc des communes", panels, [site])


def host(d: Dialect) -> dict[str, Any]:
    """One workstation or server."""
    lay = Layout(d)
    panels = [
        lay.panel("timeseries", "Processeur", [(
            'SELECT 100 - mean("usage_idle") AS "occupé" FROM "cpu" WHERE "cpu" = \'cpu-total\' AND '
            + WHERE_HOST + ' GROUP BY time($__interval) fill(none)',
            f'100 - cpu_usage_idle{{cpu="cpu-total",{HOST_M}}}')], unit="percent"),
        lay.panel("timeseries", "Mémoire", [(
            'SELECT mean("used_percent") AS "utilisée" FROM "mem" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)', f"mem_used_percent{{{HOST_M}}}")],
            unit="percent"),
        lay.panel("timeseries", "Disques", [(
            'SELECT mean("used_percent") FROM "disk" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval), "path" fill(none)', f"disk_used_percent{{{HOST_M}}}")],
            unit="percent"),
        lay.panel("timeseries", "Réseau", [(
            'SELECT non_negative_derivative(mean("bytes_recv"), 1s) * 8 AS "reçu" FROM "net" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "interface" fill(none)',
            f"rate(net_bytes_recv{{{HOST_M}}}[5m]) * 8"), (
            'SELECT non_negative_derivative(mean("bytes_sent"), 1s) * 8 AS "envoyé" FROM "net" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "interface" fill(none)',
            f"rate(net_bytes_sent{{{HOST_M}}}[5m]) * 8")], unit="bps"),
        lay.panel("timeseries", "Températures", [(
            'SELECT mean("temp") FROM "temp" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval), "sensor" fill(none)', f"temp_temp{{{HOST_M}}}")],
            unit="celsius"),
        lay.panel("table", "SMART", [(
            'SELECT last("health_ok") AS "santé", last("temp_c") AS "°C", '
            'last("power_on_hours") AS "heures" FROM "smart_device" WHERE ' + WHERE_HOST
            + ' GROUP BY "device", "model"',
            f"last_over_time(smart_device_health_ok{{{HOST_M}}}[1d])"), (
            'SELECT last("raw_value") AS "brut" FROM "smart_attribute" WHERE ' + WHERE_HOST
            + ' GROUP BY "device", "name"',
            f"last_over_time(smart_attribute_raw_value{{{HOST_M}}}[1d])")], width=12),
        lay.panel("timeseries", "Temps de fonctionnement (une chute = redémarrage)", [(
            'SELECT last("uptime") / 3600 AS "heures" FROM "system" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)', f"system_uptime{{{HOST_M}}} / 3600")],
            unit="h"),
        lay.panel("timeseries", "Agent Vigie : lots en attente", [(
            'SELECT max("spool_batches") FROM "vigie_agent" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)',
            f"max_over_time(vigie_agent_spool_batches{{{HOST_M}}}[5m])")]),
    ]  # fmt: skip
    variables = [variable(d, "site", "Commune", SITES), host_variable(d, "cpu", "cpu_usage_idle")]
    return dashboard(d, "vigie-host", "Vigie — poste", panels, variables)


def network(d: Dialect) -> dict[str, Any]:
    """Routers and switches: interfaces, errors, reachability."""
    lay = Layout(d)
    panels = [
        lay.panel("timeseries", "Débit entrant", [(
            'SELECT non_negative_derivative(mean("in_octets"), 1s) * 8 FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)',
            f"rate(interface_in_octets{{{HOST_M}}}[5m]) * 8")], unit="bps"),
        lay.panel("timeseries", "Débit sortant", [(
            'SELECT non_negative_derivative(mean("out_octets"), 1s) * 8 FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)',
            f"rate(interface_out_octets{{{HOST_M}}}[5m]) * 8")], unit="bps"),
        lay.panel("timeseries", "Erreurs par seconde", [(
            'SELECT non_negative_derivative(max("in_errors"), 1s) AS "entrée" FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)',
            f"rate(interface_in_errors{{{HOST_M}}}[5m])"), (
            'SELECT non_negative_derivative(max("out_errors"), 1s) AS "sortie" FROM "interface" WHERE '
            + WHERE_HOST + ' GROUP BY time($__interval), "ifname" fill(none)',
            f"rate(interface_out_errors{{{HOST_M}}}[5m])")]),
        lay.panel("table", "Ports (1 = actif, 2 = tombé)", [(
            'SELECT last("oper_status") AS "état", last("admin_status") AS "activé", '
            'last("speed") AS "vitesse" FROM "interface" WHERE ' + WHERE_HOST
            + ' GROUP BY "ifname"',
            f"last_over_time(interface_oper_status{{{HOST_M}}}[1d])")]),
        lay.panel("timeseries", "Joignabilité (ms)", [(
            'SELECT mean("average_response_ms") FROM "ping" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)', f"ping_average_response_ms{{{HOST_M}}}")],
            unit="ms"),
        lay.panel("timeseries", "Pertes (%)", [(
            'SELECT mean("percent_packet_loss") FROM "ping" WHERE ' + WHERE_HOST
            + ' GROUP BY time($__interval) fill(none)', f"ping_percent_packet_loss{{{HOST_M}}}")],
            unit="percent"),
    ]  # fmt: skip
    variables = [
        variable(d, "site", "Commune", SITES),
        host_variable(d, "interface", "interface_in_octets"),
    ]
    return dashboard(d, "vigie-network", "Vigie — équipement réseau", panels, variables)


def printers_ups(d: Dialect) -> dict[str, Any]:
    """Supplies, page counts and UPS state."""
    lay = Layout(d)
    panels = [
        lay.panel("timeseries", "Consommables (%)", [(
            'SELECT mean("percent") FROM "printer_supply" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host", "supply" fill(none)',
            f"printer_supply_percent{{{SITE_M}}}")], unit="percent"),
        lay.panel("timeseries", "Pages imprimées par jour", [(
            'SELECT non_negative_difference(last("page_count")) FROM "printer" WHERE ' + WHERE_SITE
            + ' GROUP BY time(1d), "host" fill(none)',
            f"increase(printer_page_count{{{SITE_M}}}[1d])")]),
        lay.panel("timeseries", "Onduleurs : autonomie (min)", [(
            'SELECT mean("runtime_minutes") FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)', f"ups_runtime_minutes{{{SITE_M}}}")],
            unit="m"),
        lay.panel("timeseries", "Onduleurs : charge et batterie (%)", [(
            'SELECT mean("load_percent") AS "charge" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)', f"ups_load_percent{{{SITE_M}}}"), (
            'SELECT mean("charge_percent") AS "batterie" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)',
            f"ups_charge_percent{{{SITE_M}}}")], unit="percent"),
        lay.panel("timeseries", "Onduleurs : tensions (V)", [(
            'SELECT mean("input_voltage") AS "entrée" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)', f"ups_input_voltage{{{SITE_M}}}"), (
            'SELECT mean("output_voltage") AS "sortie" FROM "ups" WHERE ' + WHERE_SITE
            + ' GROUP BY time($__interval), "host" fill(none)',
            f"ups_output_voltage{{{SITE_M}}}")], unit="volt", width=24),
    ]  # fmt: skip
    return dashboard(d, "vigie-printers-ups", "Vigie — imprimantes et onduleurs", panels,
                     [variable(d, "site", "Commune", SITES)])  # fmt: skip


BUILDERS = {"fleet.json": fleet, "host.json": host, "network.json": network,
            "printers-ups.json": printers_ups}  # fmt: skip
# Every file this script writes: its path and how to build it.
DASHBOARDS = {
    dialect.folder / name: (build, dialect)
    for dialect in (INFLUXQL, METRICSQL)
    for name, build in BUILDERS.items()
}


def render(path: Path) -> str:
    """One dashboard's file content."""
    build, dialect = DASHBOARDS[path]
    return json.dumps(build(dialect), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    """Write every dashboard: InfluxQL next to this script, MetricsQL in victoriametrics/."""
    for path in DASHBOARDS:
        path.parent.mkdir(exist_ok=True)
        path.write_text(render(path), encoding="utf-8")


if __name__ == "__main__":
    main()
