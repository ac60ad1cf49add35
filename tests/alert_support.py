"""A collector with a simulated clock for alert scenarios: data goes in through the real ingest
path (HTTP, line protocol), mail goes out to a real SMTP server; weeks replay in seconds."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from collector.alerting import Alerting
from collector.app import create_app
from collector.config import (
    AlertsConfig,
    CollectorConfig,
    SeriesConfig,
    SmtpConfig,
    StateConfig,
    StorageConfig,
)  # fmt: skip
from collector.rules.load import load_rules
from collector.rules.model import RuleSet
from collector.state import Repository
from collector.state.source import StateSource
from collector.store.db import open_store
from tests.services import MailSink

START = 1_780_000_000  # 2026-05-28: a simulated "now", far from the real clock


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: int = START) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


class Lab:
    """A collector app (alerting threads off: `step` runs one pass) and its mail."""

    def __init__(
        self,
        tmp: Path,
        smtp: MailSink,
        recipient: str,
        rules: RuleSet | None = None,
        smtp_settings: dict[str, Any] | None = None,
        state: StateConfig | None = None,
        clock: Clock | None = None,
        series: SeriesConfig | None = None,
        **alerts: Any,
    ) -> None:
        self.clock = clock or Clock()
        self.smtp = smtp
        self.recipient = recipient
        settings: dict[str, Any] = {"recipients": (recipient,), "digest": False, "group_wait": 0}
        settings["public_url"] = "https://vigie.example.org"
        settings.update(alerts)
        self.config = CollectorConfig(
            storage=StorageConfig(path=tmp / "collector.db", raw_retention_days=90),
            smtp=SmtpConfig(host=smtp.host, port=smtp.port, timeout=5, **(smtp_settings or {})),
            alerts=dataclasses.replace(AlertsConfig(), **settings),
            state=state or StateConfig(),
            series=series or SeriesConfig(),
        )
        self._source = StateSource(self.config.state)
        self._source.open()
        self._repo = Repository(self._source.connection(open_store(self.config.storage.path)))
        self.app = create_app(self.config, rules or load_rules([]), self.clock)
        self.app.state.run_alerting = False
        self.client = TestClient(self.app, base_url="https://testserver")

    def __enter__(self) -> Lab:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)
        self._source.close()

    @property
    def alerting(self) -> Alerting:
        """The collector's alerting (engine, notifier, sender)."""
        alerting = self.app.state.services.alerting
        assert alerting is not None
        return alerting  # type: ignore[no-any-return]

    def token(self, site: str, host: str, role: str = "workstation") -> str:
        """A new token."""
        return self._repo.create_token(site, host, role, int(self.clock.now))

    def write(self, token: str, lines: list[str]) -> None:
        """POST line protocol as an agent would; the collector must answer 204."""
        response = self.client.post(
            "/write?db=vigie&precision=s",
            content="\n".join(lines).encode(),
            headers={"Authorization": f"Token {token}"},
        )
        assert response.status_code == 204, response.text

    def step(self) -> None:
        """Index what was written, evaluate every rule, queue and send the mail."""
        self.app.state.services.writer.sync()
        self.alerting.tick(full=True, slow=True)
        self.alerting.sender.send_due()

    def mails(self) -> list[EmailMessage]:
        """What the SMTP server received for this lab's recipient."""
        return self.smtp.to(self.recipient)

    def alerts(self, state: str = "all", token: str | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/alerts."""
        reader = token or self.token("", "", "reader")
        response = self.client.get(
            f"/api/v1/alerts?state={state}", headers={"Authorization": f"Token {reader}"}
        )
        assert response.status_code == 200, response.text
        return list(response.json()["alerts"])


def replay(
    lab: Lab, token: str, hours: int, every: int, line: Any, tick_every: int = 3600
) -> Iterator[int]:
    """Write `line(ts)` every `every` seconds for `hours`, stepping the lab every `tick_every`
    seconds of simulated time; yields the time after each step."""
    end = lab.clock.now + hours * 3600
    while lab.clock.now < end:
        start = int(lab.clock.now)
        lines = [text for ts in range(start, start + tick_every, every) if (text := line(ts))]
        lab.clock.advance(tick_every)
        if lines:
            lab.write(token, lines)
        lab.step()
        yield int(lab.clock.now)
