"""HTTP delivery of spooled batches: gzip, token, idempotency header, backoff with jitter."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import random
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from agent import __version__
from agent.config import CollectorLink
from agent.spool import Batch, Spool

log = logging.getLogger(__name__)

_PATHS = {"metrics": "/write?db=vigie&precision=s", "inventory": "/api/v1/inventory"}


class Outcome(Enum):
    """What became of one send."""

    STORED = "stored"  # 2xx: the collector committed it
    REJECTED = "rejected"  # 4xx: it will never be accepted; drop it
    RETRY = "retry"  # 5xx, timeout, no route: try again later


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of a send and the reason given."""

    outcome: Outcome
    detail: str = ""


def is_loopback(url: str) -> bool:
    """Whether the URL points at this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> str:
    """The agent's token from its file (one line)."""
    return path.read_text().strip()


def tls_context(link: CollectorLink) -> ssl.SSLContext | None:
    """The TLS context that verifies the collector (system CAs or the pinned CA file); refuses
    plain HTTP to anything but loopback unless the config says so explicitly."""
    insecure = link.url.startswith("http://") and not is_loopback(link.url)
    if insecure and not link.allow_insecure_http:
        raise ValueError(
            f"refusing plain HTTP to {link.url}: use https:// or set "
            "collector.allow_insecure_http = true"
        )
    if not link.url.startswith("https://"):
        return None
    return ssl.create_default_context(cafile=str(link.ca_file) if link.ca_file else None)


def enroll(link: CollectorLink, code: str, host: str, token_file: Path) -> dict[str, str]:
    """Trade a one-time code for this agent's token and store it (mode 0600). Raises
    ValueError with the collector's reason, OSError when it cannot be reached."""
    body = json.dumps({"code": code, "host": host}).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in config
        link.url + "/api/v1/enroll",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"vigie-agent/{__version__}"},
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=link.timeout, context=tls_context(link)
        ) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = err.read(500).decode(errors="replace")
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("error", detail)
        raise ValueError(f"the collector refused the code: {detail}") from None
    token_file.parent.mkdir(parents=True, exist_ok=True)
    partial = token_file.with_name(token_file.name + ".new")
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(answer["token"] + "\n")
    os.replace(partial, token_file)
    return {k: str(v) for k, v in answer.items() if k != "token"}


class Sender:
    """Posts batches to the collector."""

    def __init__(self, link: CollectorLink, token: str) -> None:
        self._link = link
        self._token = token
        self._context = tls_context(link)

    def send(self, batch: Batch, agent_id: str) -> SendResult:
        """Post one batch; never raises for network or server errors."""
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in config
            self._link.url + _PATHS.get(batch.kind, _PATHS["metrics"]),
            data=batch.body,
            method="POST",
            headers={
                "Authorization": f"Token {self._token}",
                "Content-Encoding": "gzip",
                "Content-Type": "application/json" if batch.kind == "inventory" else "text/plain",
                "X-Vigie-Batch": f"{agent_id}:{batch.seq}",
                "User-Agent": f"vigie-agent/{__version__}",
            },
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 - the scheme is checked in config
                request, timeout=self._link.timeout, context=self._context
            ) as response:
                return SendResult(Outcome.STORED, str(response.status))
        except urllib.error.HTTPError as err:
            detail = f"HTTP {err.code}: {err.read(500).decode(errors='replace')}"
            if 400 <= err.code < 500 and err.code not in (408, 429):
                return SendResult(Outcome.REJECTED, detail)
            return SendResult(Outcome.RETRY, detail)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            return SendResult(Outcome.RETRY, str(getattr(err, "reason", err)))


class Forwarder:
    """Drains the spool in order; backs off exponentially (with jitter) while the link is down."""

    def __init__(
        self,
        spool: Spool,
        sender: Sender,
        clock: Callable[[], float] = time.monotonic,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self._spool = spool
        self._sender = sender
        self._clock = clock
        self._base = base_delay
        self._max = max_delay
        self._rng = rng or random.Random()
        self._failures = 0
        self._next_try = 0.0
        self.send_errors = 0

    def drain(self, budget_seconds: float = 30.0) -> int:
        """Send pending batches until empty, a failure, or the budget is spent; returns sent."""
        now = self._clock()
        if now < self._next_try:
            return 0
        sent = 0
        deadline = now + budget_seconds
        while self._clock() < deadline:
            batches = list(self._spool.pending(limit=20))
            if not batches:
                break
            for batch in batches:
                result = self._sender.send(batch, self._spool.agent_id)
                if result.outcome is Outcome.STORED:
                    self._spool.ack(batch.seq)
                    sent += 1
                    self._failures = 0
                elif result.outcome is Outcome.REJECTED:
                    log.error("collector refused batch %s for good: %s", batch.seq, result.detail)
                    self._spool.drop(batch)
                else:
                    self._failures += 1
                    self.send_errors += 1
                    delay = min(self._max, self._base * 2 ** min(self._failures - 1, 16))
                    delay *= self._rng.uniform(0.5, 1.5)
                    self._next_try = self._clock() + delay
                    log.warning("collector unreachable (%s); retry in %.0f s", result.detail, delay)
                    return sent
                if self._clock() >= deadline:
                    break
        return sent
