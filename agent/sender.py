"""HTTP delivery of spooled batches: gzip, token, idempotency header, backoff with jitter.

Built on agent.httpclient rather than urllib.request or http.client: the agent runs for years
on old PCs, and their imports cost 1.8 and 1.3 MiB of resident memory. The agent connects to
the collector directly (no HTTP proxy).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import ssl
import sys
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from agent import __version__, httpclient
from agent.config import CollectorLink
from agent.spool import Batch, Spool

log = logging.getLogger(__name__)

_PATHS = {"metrics": "/write?db=vigie&precision=s", "inventory": "/api/v1/inventory"}


class Outcome(Enum):
    """What became of one send."""

    STORED = "stored"  # 2xx: the collector committed it
    REJECTED = "rejected"  # 400: a line it will never accept; resending cannot help: drop it
    TOO_LARGE = "too_large"  # 413: split the batch and send the halves
    REFUSED = "refused"  # 401/403/404/407...: a configuration error; keep it, retry slowly
    RETRY = "retry"  # 5xx, 408, 429, timeout, no route: try again soon


class SendResult(NamedTuple):
    """Outcome of a send, the HTTP status (0 when none came) and the reason given."""

    outcome: Outcome
    detail: str = ""
    status: int = 0


def classify(status: int) -> Outcome:
    """What an HTTP status means for the batch (DESIGN.md, wire protocol)."""
    if 200 <= status < 300:
        return Outcome.STORED
    if status == 400:
        return Outcome.REJECTED
    if status == 413:
        return Outcome.TOO_LARGE
    if 400 <= status < 500 and status not in (408, 429):
        return Outcome.REFUSED
    return Outcome.RETRY


def fix_for(status: int, link: CollectorLink) -> str:
    """What a technician should do about a refusal, in one sentence."""
    token = link.token_file
    if status == 401:
        return (
            f"the token in {token} is not valid (revoked, or from another collector): get a "
            "code with `vigie-collector enroll create` and run `vigie-agent enroll --config "
            "FILE --code CODE`"
        )
    if status == 403:
        return (
            f"the token in {token} belongs to another site or host: set agent.site and "
            "agent.host to what it was enrolled for, or enroll again"
        )
    if status == 404:
        return (
            f"{link.url} has no write endpoint: collector.url must be the collector's base "
            "URL (https://host:port), ending before /write"
        )
    if status == 407:
        return (
            "a proxy answered: the agent connects directly, so open the collector's address "
            "and port in the firewall"
        )
    if status == 0:
        return f"write the agent's token to {token} (`vigie-agent enroll`)"
    return "see the collector's answer above"


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


class TokenFile:
    """The agent's token, read again whenever its file changes: replacing a wrong token takes
    effect without a restart. `generation` counts the changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0
        self.error = ""
        self._stamp: tuple[int, int] | None = None
        self._token = ""

    def read(self) -> str:
        """The current token, or "" (with `error` saying why) when the file cannot be read."""
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                self._token, self._stamp = read_token(self.path), stamp
                self.generation += 1
        except OSError as err:
            self.error = f"cannot read the token file {self.path}: {err.strerror or err}"
            return ""
        self.error = ""
        return self._token


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


class Connection:
    """The HTTP(S) connection to the collector, opened when first needed and kept until
    `close` (a drain of many batches pays for one TLS handshake, not one per batch)."""

    def __init__(self, link: CollectorLink) -> None:
        parts = urlsplit(link.url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        self._http = httpclient.Connection(
            parts.hostname or "", port, tls_context(link), link.timeout
        )
        self._prefix = parts.path.rstrip("/")

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST and return (status, start of the answer's body). Raises OSError when the
        collector cannot be reached or answers garbage. A kept connection that the collector
        closed meanwhile is opened again once, which is safe: every batch carries its
        idempotency key."""
        reused = self._http.open
        headers = {"User-Agent": f"vigie-agent/{__version__}", **headers}
        try:
            return self._http.post(self._prefix + path, body, headers)
        except (httpclient.RemoteClosed, ConnectionResetError, BrokenPipeError):
            if reused:
                return self._http.post(self._prefix + path, body, headers)  # a new connection
            raise

    def close(self) -> None:
        """Close the connection; the next post opens a new one."""
        self._http.close()


def enroll(link: CollectorLink, code: str, host: str, token_file: Path) -> dict[str, str]:
    """Trade a one-time code for this agent's token and store it (mode 0600). Raises
    ValueError with the collector's reason, OSError when it cannot be reached."""
    body = json.dumps({"code": code, "host": host}).encode()
    connection = Connection(link)
    try:
        status, answer_body = connection.post(
            "/api/v1/enroll", body, {"Content-Type": "application/json"}
        )
    finally:
        connection.close()
    if not 200 <= status < 300:
        detail = answer_body[:500].decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("error", detail)
        raise ValueError(f"the collector refused the code (HTTP {status}): {detail}")
    answer = json.loads(answer_body)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    write_secret(token_file, answer["token"] + "\n")
    return {k: str(v) for k, v in answer.items() if k != "token"}


def write_secret(path: Path, text: str) -> None:
    """Replace `path` atomically by `text`, readable by root only (mode 0600) or, on Windows,
    by SYSTEM and Administrators only."""
    partial = path.with_name(path.name + ".new")
    if sys.platform == "win32":
        from agent.winacl import private_file

        fd = private_file(partial)
    else:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(partial, path)


class Sender:
    """Posts batches to the collector with the agent's token (a fixed one in tests)."""

    def __init__(self, link: CollectorLink, token: str | TokenFile) -> None:
        self.link = link
        self._token = token
        self._connection = Connection(link)

    def token_generation(self) -> int:
        """Changes when the token file was replaced (a fix to try at once)."""
        if isinstance(self._token, str):
            return 0
        self._token.read()
        return self._token.generation

    def send(self, batch: Batch, agent_id: str) -> SendResult:
        """Post one batch; never raises for network or server errors."""
        token = self._token if isinstance(self._token, str) else self._token.read()
        if not token:
            error = self._token.error if isinstance(self._token, TokenFile) else "no token"
            return SendResult(Outcome.REFUSED, error)
        headers = {
            "Authorization": f"Token {token}",
            "Content-Encoding": "gzip",
            "Content-Type": "application/json" if batch.kind == "inventory" else "text/plain",
            "X-Vigie-Batch": f"{agent_id}:{batch.seq}",
        }
        path = _PATHS.get(batch.kind, _PATHS["metrics"])
        try:
            status, answer = self._connection.post(path, batch.body, headers)
        except OSError as err:
            return SendResult(Outcome.RETRY, str(err) or type(err).__name__)
        detail = f"HTTP {status}: {answer[:500].decode(errors='replace')}"
        return SendResult(classify(status), detail, status)

    def close(self) -> None:
        """Close the connection to the collector (between drains)."""
        self._connection.close()


def uniform(low: float, high: float) -> float:
    """A number drawn evenly between low and high, for jitter. From os.urandom rather than the
    random module, which the resident agent would keep for this alone (a quarter MiB)."""
    return low + (high - low) * int.from_bytes(os.urandom(4), "big") / 2**32


class Forwarder:
    """Drains the spool in order. While the collector is unreachable or failing it backs off
    exponentially with jitter (up to `max_delay`); while it refuses the agent (a configuration
    error: token, URL, proxy) up to `refused_delay`, keeping every batch, saying once an hour
    what to fix, and trying again at once when the token file changes."""

    def __init__(
        self,
        spool: Spool,
        sender: Sender,
        clock: Callable[[], float] = time.monotonic,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        refused_delay: float = 3600.0,
        report_every: float = 3600.0,
    ) -> None:
        self._spool = spool
        self._sender = sender
        self._clock = clock
        self._base = base_delay
        self._max = max_delay
        self._refused_max = refused_delay
        self._failures = 0
        self._next_try = 0.0
        self.send_errors = 0
        self._token_generation = sender.token_generation()
        self._report_every = report_every
        self._last_report = clock()
        self._last_refusal_log = -report_every
        self._sent = (0, 0)  # batches, lines since the last report

    def drain(self, budget_seconds: float = 30.0, stop: threading.Event | None = None) -> int:
        """Send pending batches until empty, a failure, the budget is spent or `stop` is set
        (what is not sent stays in the spool); returns how many were sent."""
        now = self._clock()
        self._report(now)
        generation = self._sender.token_generation()
        if generation != self._token_generation:
            self._token_generation = generation
            self._failures, self._next_try = 0, 0.0  # a new token: try it now
        if now < self._next_try:
            return 0
        try:
            return self._drain(now + budget_seconds, stop)
        finally:
            # Between drains the link stays closed: the collector would time the idle
            # connection out anyway, and an agent should hold no socket while it waits.
            self._sender.close()

    def _drain(self, deadline: float, stop: threading.Event | None) -> int:
        sent = 0
        while self._clock() < deadline:
            batches = list(self._spool.pending(limit=20))
            if not batches:
                break
            for batch in batches:
                if stop is not None and stop.is_set():
                    return sent  # the service is stopping: the rest waits in the spool
                result = self._sender.send(batch, self._spool.agent_id)
                if result.outcome is Outcome.STORED:
                    self._spool.ack(batch.seq)
                    sent += 1
                    self._failures = 0
                    self._sent = (self._sent[0] + 1, self._sent[1] + batch.lines)
                elif result.outcome is Outcome.TOO_LARGE and self._spool.split(batch):
                    log.warning("batch %s too large for the collector: split in two", batch.seq)
                    break  # read the spool again: the halves are at its end
                elif result.outcome in (Outcome.REJECTED, Outcome.TOO_LARGE):
                    log.error(
                        "collector refused batch %s (%d lines) for good, dropped and counted "
                        "(vigie_agent.rejected_batches): %s",
                        batch.seq,
                        batch.lines,
                        result.detail,
                    )
                    self._spool.drop(batch)
                else:
                    self._back_off(result)
                    return sent
                if self._clock() >= deadline:
                    break
        return sent

    def _back_off(self, result: SendResult) -> None:
        self._failures += 1
        self.send_errors += 1
        refused = result.outcome is Outcome.REFUSED
        ceiling = self._refused_max if refused else self._max
        delay = min(ceiling, self._base * 2 ** min(self._failures - 1, 16))
        # Jitter spreads a fleet's retries; a refusal at its ceiling stays close to an hour.
        at_hourly_ceiling = refused and delay >= ceiling
        delay *= uniform(0.9, 1.0) if at_hourly_ceiling else uniform(0.5, 1.5)
        now = self._clock()
        self._next_try = now + delay
        if not refused:
            log.warning("collector unreachable (%s); retry in %.0f s", result.detail, delay)
        elif now - self._last_refusal_log >= 0.8 * self._report_every:  # retries jitter
            self._last_refusal_log = now
            log.error(
                "collector %s refuses this agent (%s): %s. Every batch is kept (%d waiting, "
                "bounded by spool.max_age_days and spool.max_mb) and retried at least hourly; "
                "logged once an hour",
                self._sender.link.url,
                result.detail,
                fix_for(result.status, self._sender.link),
                self._spool.stats().batches,
            )

    def _report(self, now: float) -> None:
        """One line an hour that says the agent works (or that nothing went out)."""
        if now - self._last_report < self._report_every:
            return
        batches, lines = self._sent
        log.info(
            "last hour: %d batches (%d points) sent to %s; %d waiting in the spool",
            batches,
            lines,
            self._sender.link.url,
            self._spool.stats().batches,
        )
        self._last_report, self._sent = now, (0, 0)
