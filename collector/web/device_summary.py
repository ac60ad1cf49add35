"""The header of a device page: what it is, where to reach it, what it runs, since when it is
up and when it was last heard from, in the words of the page."""

from __future__ import annotations

from typing import Any

from collector.notify.facts import device_facts
from collector.store.reads import LatestReads
from collector.web.common import Page, kind_word, when
from collector.web.inventory import summary_of_document


def _newest(newest: LatestReads, measurement: str, site: str, host: str) -> dict[str, Any]:
    found = newest.latest_samples(measurement, site, host)
    return {"tags": found[0][1], "fields": found[0][3]} if found else {"tags": {}, "fields": {}}


def _last_seen(last_seen: int | None, moment: int, page: Page) -> str:
    if last_seen is None:
        return ""
    ago = page.words["ago"].format(duration=page.say.duration(moment - last_seen))
    return f"{when(last_seen, page)} ({ago})"


def device_summary(
    newest: LatestReads, site: str, host: str, document: dict[str, Any] | None, page: Page,
    last_seen: int | None, moment: int,
) -> list[tuple[str, str]]:  # fmt: skip
    """(label, value) pairs of what is known, in the page's language."""
    t = page.words
    line = summary_of_document(site, host, "", document) if document else None
    kind = newest.host_kinds(site, host).get((site, host), "")
    uptime = _newest(newest, "system", site, host)["fields"].get("uptime")
    agent = _newest(newest, "vigie_agent", site, host)["tags"].get("version", "")
    reader = _newest(newest, "device_poll", site, host)["tags"].get("poller", "")
    pairs = [
        (t["type"], kind_word(kind, page)),
        (t["address"], device_facts(document).ip),
        (t["os"], line.os if line else ""),
        (t["model"], line.model if line else ""),
        (t["serial"], line.serial if line else ""),
        (t["up_for"], page.say.duration(float(uptime)) if isinstance(uptime, int | float) else ""),
        (t["last_seen"], _last_seen(last_seen, moment, page)),
        (t["agent_version"], str(agent)),
        (t["read_by"], str(reader)),
    ]  # fmt: skip
    return [(label, value) for label, value in pairs if value]
