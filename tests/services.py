"""Real peers for the tests, each started on a free loopback port and stopped afterwards.

With CI=true a service that cannot start fails the run; elsewhere it skips with the reason.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage as Message
from pathlib import Path
from typing import Any

import pytest

from collector.telemetry import OWN_SITE

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
VENV_BIN = Path(sys.executable).parent
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
TEST_DATA = Path(__file__).parent / "data"


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere: a missing service must never pass silently in CI."""
    if IN_CI:
        pytest.fail(f"service unavailable in CI: {reason}")
    pytest.skip(reason)


def make_ca(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    folder.mkdir(parents=True)
    ca_key, ca, key, csr, cert, ext = (
        folder / n for n in ("ca.key", "ca.pem", "key.pem", "req.csr", "cert.pem", "ext.cnf")
    )
    ext.write_text("subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n")
    for args in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "2",
            "-subj",
            f"/CN={name} test CA",
        ],
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            ext,
        ],
    ):
        subprocess.run(["openssl", *map(str, args)], capture_output=True, check=True, timeout=60)
    return ca, cert, key


def reference(*parts: str) -> Path:
    """A file of ../shared/reference, or a skip (a failure in CI) when the folder is absent."""
    path = SHARED_REFERENCE.joinpath(*parts)
    if not path.exists():
        unavailable(f"{path} is absent (../shared/reference is not beside the checkout)")
    return path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free on 127.0.0.1 at the time of asking."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (the collector's index process)."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def indexer_pids(pid: int) -> list[int]:
    """The collector index processes that a process started."""
    return [
        c for c in child_pids(pid) if Path(f"/proc/{c}/comm").read_text().strip() == "vigie-indexer"
    ]


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def none_alive(pids: list[int]) -> bool:
    """Whether every one of these processes has ended."""
    return not any(map(alive, pids))


def wait_for(
    check: Callable[[], bool], timeout: float, what: str, proc: Any = None, own: bool = False
) -> None:
    """Poll `check` until true; fail with the process output if it died or time ran out.

    A peer that cannot start is `unavailable`; one of Vigie's own programs (`own`) always fails.
    """
    give_up = pytest.fail if own else unavailable
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            give_up(f"{what} exited with {proc.returncode}: {_output(proc)}")
        with contextlib.suppress(OSError, ValueError):
            if check():
                return
        time.sleep(0.1)
    give_up(f"{what} did not become ready in {timeout} s: {_output(proc)}")


# Where each service child writes its output: a file, not a pipe nobody reads (a busy snmpd
# logging into a full pipe blocks and stops answering).
_LOGS: dict[int, Path] = {}


def _output(proc: Any) -> str:
    if proc is None:
        return ""
    with contextlib.suppress(Exception):
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        if proc.pid in _LOGS:
            return _LOGS[proc.pid].read_text(errors="replace")[-2000:]
        if proc.stdout is not None:
            return str(proc.stdout.read()[-2000:])
    return ""


def binary(name: str, *candidates: str) -> str:
    """The path of a program, or unavailable."""
    for candidate in (name, *candidates):
        found = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        if found:
            return found
    unavailable(f"{name} is not installed (the README's test command installs it)")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def process(args: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    """A child process, its output in a temporary file, terminated (then killed) on exit."""
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below)
        prefix=f"{Path(args[0]).name}-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True, **kwargs)
    _LOGS[proc.pid] = Path(log.name)
    try:
        yield proc
    finally:
        log.close()
        Path(log.name).unlink(missing_ok=True)
        _LOGS.pop(proc.pid, None)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tls(url: str) -> ssl.SSLContext | None:
    """For a test's HTTPS collector on loopback, whose test CA only the agent is given."""
    return ssl._create_unverified_context() if url.startswith("https://") else None  # noqa: S323


def http_ok(url: str, expected: int = 200) -> bool:
    """Whether GET url answers `expected` (a test's own TLS certificate is not checked here:
    the tests that care check it with the agent)."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=_tls(url)) as response:
            return int(response.status) == expected
    except urllib.error.HTTPError as err:
        return err.code == expected


# InfluxDB --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Influx:
    """A running InfluxDB 1.x."""

    url: str

    def query(self, q: str, db: str = "") -> dict[str, Any]:
        """Run InfluxQL and return the decoded JSON."""
        import json
        from urllib.parse import urlencode

        params = urlencode({"q": q, "db": db, "epoch": "s"})
        request = urllib.request.Request(f"{self.url}/query?{params}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def write(self, db: str, lines: str) -> int:
        """Write line protocol at second precision; returns the HTTP status."""
        request = urllib.request.Request(
            f"{self.url}/write?db={db}&precision=s", data=lines.encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)


@contextlib.contextmanager
def run_influxdb(tmp: Path, port: int | None = None) -> Iterator[Influx]:
    """InfluxDB 1.x (Debian `influxdb`) with its own config and data in `tmp`; start it again
    on the same folder and `port` to restart it with its data."""
    influxd = binary("influxd", "/usr/bin/influxd")
    port, rpc = port or free_port(), free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "influxdb.conf"
    conf.write_text(
        f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{tmp}/meta"
[data]
  dir = "{tmp}/data"
  wal-dir = "{tmp}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""
    )
    with process([influxd, "-config", str(conf)]) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(f"{url}/ping", 204), 30, "influxd", proc)
        yield Influx(url)


# PostgreSQL --------------------------------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Postgres:
    """A PostgreSQL 15 server on loopback, trusting local connections (a test's own)."""

    port: int
    args: list[str] = field(default_factory=list)
    user: str | None = None
    proc: subprocess.Popen[str] | None = None

    def url(self, database: str = "postgres") -> str:
        """The libpq URL of one of its databases."""
        return f"postgresql://vigie@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> None:
        """Start the server (again: on the same data, after crash recovery)."""
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            user=self.user, start_new_session=True,  # its own group: `kill` ends every backend
        )  # fmt: skip
        wait_for(lambda: _pg_ready(self), 30, "postgres", self.proc)

    def kill(self) -> None:
        """SIGKILL the server and its backends at once: an outage, a dead machine."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


@contextlib.contextmanager
def run_postgres(port: int | None = None) -> Iterator[Postgres]:
    """PostgreSQL 15 (Debian `postgresql-15`): a new cluster in a temporary folder, run as the
    `postgres` account when the tests run as root (PostgreSQL refuses root)."""
    initdb = binary("initdb", str(PG_BIN / "initdb"))
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
    server = Postgres(port or free_port(), user=user)
    try:
        if user:
            shutil.chown(folder, user)
        data = folder / "data"
        subprocess.run(
            [initdb, "-D", str(data), "-U", "vigie", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, user=user,
        )  # fmt: skip
        server.args = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(server.port),
                       "-c", "listen_addresses=127.0.0.1",
                       "-c", f"unix_socket_directories={folder}"]  # fmt: skip
        server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)  # "fast" shutdown: clients disconnected
            server.proc.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def _pg_ready(server: Postgres) -> bool:
    import psycopg

    try:
        psycopg.connect(server.url(), connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


# VictoriaMetrics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Victoria:
    """A VictoriaMetrics single node on loopback."""

    url: str
    proc: subprocess.Popen[str] | None = None

    def kill(self) -> None:
        """SIGKILL the node (start it again with run_victoriametrics on its folder and port)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def flush(self) -> None:
        """Make what was written searchable now (VictoriaMetrics buffers for a few seconds)."""
        import urllib.request

        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10).read()

    def export(self, match: str) -> list[dict[str, Any]]:
        """The raw samples of the matching series (/api/v1/export), after a flush."""
        import json
        import urllib.parse
        import urllib.request

        self.flush()
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as answer:
            return [json.loads(line) for line in answer.read().decode().splitlines() if line]


@contextlib.contextmanager
def run_victoriametrics(tmp: Path, port: int | None = None) -> Iterator[Victoria]:
    """VictoriaMetrics (Debian `victoria-metrics`) with its data in `tmp`, keeping an identical
    sample once (-dedup.minScrapeInterval=1s: Vigie's resolution is a second); start it again
    on the same folder and `port` to restart it with its data."""
    executable = binary("victoria-metrics", "/usr/bin/victoria-metrics")
    port = port or free_port()
    args = [executable, f"-storageDataPath={tmp}", f"-httpListenAddr=127.0.0.1:{port}",
            "-dedup.minScrapeInterval=1s", "-loggerLevel=ERROR",
            "-search.latencyOffset=0s"]  # fmt: skip
    with process(args) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(f"{url}/health"), 30, "victoria-metrics", proc)
        yield Victoria(url, proc)


@contextlib.contextmanager
def run_haproxy(tmp: Path, backends: list[str], backup: bool = False) -> Iterator[str]:
    """HAProxy (Debian `haproxy`) in front of collectors (`host:port` each), checking their
    /healthz every half second and sending a request whose backend refused the connection to
    another; its URL. With `backup`, every collector but the first is a backup server (all
    traffic to the first while it is healthy)."""
    executable = binary("haproxy", "/usr/sbin/haproxy")
    port = free_port()
    servers = "".join(
        f"  server c{i} {address} check inter 500ms fall 2 rise 1"
        + (" backup\n" if backup and i else "\n")
        for i, address in enumerate(backends)
    )
    config = tmp / "haproxy.cfg"
    tmp.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n"
        "  timeout server 30s\n  timeout check 3s\n  retries 2\n  option redispatch\n"
        f"frontend vigie\n  bind 127.0.0.1:{port}\n  default_backend collectors\n"
        "backend collectors\n  balance roundrobin\n  option httpchk GET /healthz\n"
        f"  http-check expect status 200\n{servers}"
    )
    with process([executable, "-db", "-f", str(config)]) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(f"{url}/healthz"), 30, "haproxy", proc)
        yield url


# net-snmp snmpd ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SnmpAgent:
    """An SNMP agent on loopback with a v2c community and a v3 authPriv user."""

    host: str
    port: int
    community: str = "vigietest"
    user: str = "vigieuser"
    auth_key: str = "authpass123"
    priv_key: str = "privpass123"

    @property
    def address(self) -> str:
        """host:port, as net-snmp's tools and the agent config take it."""
        return f"{self.host}:{self.port}"

    def v2c_args(self, community: str | None = None) -> list[str]:
        """net-snmp client arguments for v2c."""
        return ["-v2c", "-c", community or self.community, "-On", "-t", "2", "-r", "1"]

    def v3_args(self, context: str = "") -> list[str]:
        """net-snmp client arguments for v3 authPriv (SHA/AES)."""
        args = ["-v3", "-l", "authPriv", "-u", self.user, "-a", "SHA", "-A", self.auth_key]
        args += ["-x", "AES", "-X", self.priv_key, "-On", "-t", "2", "-r", "1"]
        return args + (["-n", context] if context else [])

    def get(self, oid: str, args: list[str]) -> str:
        """snmpget from net-snmp; the output line."""
        done = subprocess.run(
            ["snmpget", *args, self.address, oid], capture_output=True, text=True, timeout=15
        )
        return done.stdout.strip() or done.stderr.strip()


def _snmp_ready(agent: SnmpAgent, args: list[str]) -> bool:
    return "Timeout" not in agent.get("1.3.6.1.2.1.1.3.0", args) and bool(
        agent.get("1.3.6.1.2.1.1.3.0", args)
    )


@contextlib.contextmanager
def run_snmpd(tmp: Path) -> Iterator[SnmpAgent]:
    """net-snmp snmpd on loopback UDP."""
    snmpd = binary("snmpd", "/usr/sbin/snmpd")
    binary("snmpget")
    agent = SnmpAgent("127.0.0.1", free_port(socket.SOCK_DGRAM))
    state = tmp / "persist"
    state.mkdir(exist_ok=True)
    conf = tmp / "snmpd.conf"
    conf.write_text(
        f"""[snmp] persistentDir {state}
rocommunity {agent.community} 127.0.0.1
createUser {agent.user} SHA "{agent.auth_key}" AES "{agent.priv_key}"
rouser {agent.user} priv
sysLocation Mairie de Vigie-les-Tests
sysContact support@example.org
sysName snmpd-test
"""
    )
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(state), MIBS="")
    args = [snmpd, "-f", "-Lo", "-C", "-c", str(conf), "-p", str(tmp / "snmpd.pid")]
    with process([*args, f"udp:{agent.address}"], env=env) as proc:
        wait_for(lambda: _snmp_ready(agent, agent.v2c_args()), 20, "snmpd", proc)
        yield agent


# snmpsim ---------------------------------------------------------------------------------


@contextlib.contextmanager
def run_snmpsim(tmp: Path) -> Iterator[SnmpAgent]:
    """snmpsim serving the walks it ships (recorded real devices) plus tests/data/snmp/.

    A data file `recorded/linux-full-walk.snmprec` answers the v2c community
    `recorded/linux-full-walk` and, in v3, the context of the same name.
    """
    responder = binary("snmpsim-command-responder", str(VENV_BIN / "snmpsim-command-responder"))
    try:
        import snmpsim
    except ImportError:
        unavailable("snmpsim is not installed (pip install snmpsim)")
    shipped = Path(snmpsim.__file__).parent / "data"
    data = tmp / "data"
    shutil.copytree(shipped / "recorded", data / "recorded")
    own = TEST_DATA / "snmp"
    if own.is_dir():
        shutil.copytree(own, data / "vigie")
    agent = SnmpAgent(
        "127.0.0.1", free_port(socket.SOCK_DGRAM), community="recorded/linux-full-walk"
    )
    args = [
        responder,
        f"--data-dir={data}",
        f"--cache-dir={tmp / 'cache'}",
        f"--agent-udpv4-endpoint={agent.address}",
        f"--v3-user={agent.user}",
        f"--v3-auth-key={agent.auth_key}",
        "--v3-auth-proto=SHA",
        f"--v3-priv-key={agent.priv_key}",
        "--v3-priv-proto=AES",
        "--logging-method=stderr",
        "--log-level=error",
    ]
    env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
    with process(args, env=env) as proc:
        wait_for(lambda: _snmp_ready(agent, agent.v2c_args()), 60, "snmpsim", proc)
        yield agent


# OpenSSH sshd ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SshServer:
    """sshd on loopback with a generated host key and one authorized client key."""

    host: str
    port: int
    user: str
    client_key: Path
    host_key_line: str  # "ssh-ed25519 AAAA…", as pinned in the agent config


@contextlib.contextmanager
def run_sshd(tmp: Path) -> Iterator[SshServer]:
    """OpenSSH sshd with its own config, host key and authorized_keys."""
    sshd = binary("sshd", "/usr/sbin/sshd")
    keygen = binary("ssh-keygen")
    host_key, client_key = tmp / "ssh_host_ed25519_key", tmp / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (tmp / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    (tmp / "authorized_keys").chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    port = free_port()
    conf = tmp / "sshd_config"
    conf.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
AuthorizedKeysFile {tmp}/authorized_keys
PidFile {tmp}/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
LogLevel ERROR
"""
    )
    host_line = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
    with process([sshd, "-D", "-e", "-f", str(conf)]) as proc:
        wait_for(lambda: _tcp_banner("127.0.0.1", port).startswith("SSH-2.0"), 20, "sshd", proc)
        yield SshServer("127.0.0.1", port, getpass.getuser(), client_key, host_line)


def _tcp_banner(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=1) as sock:
        return sock.recv(64).decode(errors="replace")


# SMTP (aiosmtpd) -----------------------------------------------------------------------


@dataclass
class MailSink:
    """An SMTP server that keeps every message it accepts."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        """aiosmtpd hook: addresses starting with "refused" get a permanent 550."""
        if address.startswith("refused"):
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def to(self, recipient: str) -> list[Message]:
        """The messages received for one recipient."""
        return [
            m
            for m, (_, rcpts) in zip(self.messages, self.envelopes, strict=True)
            if recipient in rcpts
        ]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd hook: keep the message."""
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def wait(self, count: int, timeout: float = 10.0) -> list[Message]:
        """Wait until `count` messages arrived."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


def plain(message: Message) -> str:
    """The text part of a mail (Vigie's mails also have an HTML part)."""
    body = message.get_body(("plain",))
    assert body is not None, "no text part"
    return str(body.get_content())


def html_part(message: Message) -> str:
    """The HTML part of a mail."""
    body = message.get_body(("html",))
    assert body is not None, "no HTML part"
    return str(body.get_content())


@contextlib.contextmanager
def run_smtp(port: int | None = None, sink: MailSink | None = None) -> Iterator[MailSink]:
    """aiosmtpd on loopback (on `port`, keeping what `sink` received, to restart one)."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        unavailable("aiosmtpd is not installed (pip install aiosmtpd)")
    sink = sink or MailSink("127.0.0.1", port or free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# Headless Chromium -----------------------------------------------------------------------


@dataclass(frozen=True)
class Browser:
    """Debian's Chromium, headless, with the flags this closed network needs."""

    executable: str
    profile: Path

    def args(self) -> list[str]:
        """Command-line flags for a headless run."""
        return [
            self.executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={self.profile}",
        ]

    def dump_dom(self, url: str, timeout: float = 60) -> str:
        """The DOM after scripts ran."""
        done = subprocess.run(
            [*self.args(), "--virtual-time-budget=3000", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout


class DevTools:
    """A page of a headless Chromium driven over the DevTools protocol (a real browser:
    forms are typed into and submitted, cookies kept, pages laid out)."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._next = 0

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events arriving meanwhile are dropped)."""
        import json

        self._next += 1
        self._socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (promises awaited); its value."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait until the page is loaded."""
        self.call("Page.navigate", url=url)
        self.wait_loaded(timeout)

    def submit(self, selector: str) -> None:
        """Submit the form that holds `selector` (a button or a field) and wait for the page."""
        self.evaluate(f"document.querySelector({selector!r}).form.requestSubmit()")
        self.wait_loaded()

    def drag(self, selector: str, start: float, end: float) -> None:
        """Drag the mouse across the element `selector`, from `start` to `end` (fractions of
        its width), at mid-height: real input events, as a person's."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({selector!r}); e.scrollIntoView();"
            " const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()"
        )
        left, top, width, height = box
        y = top + height / 2
        points = [left + width * start, left + width * (start + end) / 2, left + width * end]
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=points[0], y=y,
                  button="left", clickCount=1)  # fmt: skip
        for x in points[1:]:
            self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left")
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=points[-1], y=y,
                  button="left", clickCount=1)  # fmt: skip
        self.wait_loaded()

    def screenshot(self, path: Path) -> None:
        """Save the page as PNG."""
        import base64

        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def wait_loaded(self, timeout: float = 30) -> None:
        """Wait until the document is complete (after a navigation or a form submit)."""
        deadline = time.monotonic() + timeout
        time.sleep(0.2)
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete":
                return
            time.sleep(0.1)
        raise TimeoutError("page load")


@contextlib.contextmanager
def devtools(browser: Browser) -> Iterator[DevTools]:
    """Chromium with remote debugging on a free loopback port, one page."""
    try:
        from websockets.sync.client import connect
    except ImportError:
        unavailable("websockets is not installed (pip install websockets)")
    port = free_port()
    args = [
        *browser.args(),
        f"--remote-debugging-port={port}",
        "--remote-debugging-address=127.0.0.1",
        "about:blank",
    ]
    with process(args) as proc:
        import json

        def page_socket() -> str:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/json/list", timeout=2
            ) as response:
                pages = [t for t in json.loads(response.read()) if t.get("type") == "page"]
            return str(pages[0]["webSocketDebuggerUrl"]) if pages else ""

        def ready() -> bool:
            try:
                return bool(page_socket())
            except OSError:
                return False

        wait_for(ready, 30, "chromium devtools", proc)
        with connect(page_socket(), max_size=64 * 1024 * 1024) as socket:
            tools = DevTools(socket)
            tools.call("Page.enable")
            tools.call("Runtime.enable")
            yield tools


@contextlib.contextmanager
def run_browser(tmp: Path) -> Iterator[Browser]:
    """Headless Chromium (Debian `chromium`)."""
    executable = binary("chromium", "/usr/bin/chromium", "chromium-browser")
    yield Browser(executable, tmp / "profile")


# Vigie's own processes -----------------------------------------------------------------


@dataclass
class CollectorProcess:
    """A `vigie-collector run` child process and what a test needs to talk to it."""

    config: Path
    url: str
    proc: subprocess.Popen[str] | None = None
    ready_within: float = 30  # a large store takes longer (its integrity check at start)

    def cli(self, *args: str) -> str:
        """Run a vigie-collector subcommand against this collector's config; its stdout."""
        done = subprocess.run(
            [str(VENV_BIN / "vigie-collector"), *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    def token(self, site: str, host: str, role: str = "workstation") -> str:
        """A new token from `vigie-collector token create`."""
        if role == "reader":
            return self.cli("token", "create", "--role", "reader")
        return self.cli("token", "create", "--site", site, "--host", host, "--role", role)

    def start(self) -> None:
        """Start (or restart) the service and wait for /healthz."""
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "vigie-collector"), "run", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for(
            lambda: http_ok(f"{self.url}/healthz"),
            self.ready_within,
            "vigie-collector",
            self.proc,
            own=True,
        )

    def stop(self, sig: int = 15) -> int:
        """Send `sig` and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)


@contextlib.contextmanager
def run_collector(
    tmp: Path,
    extra: str = "",
    address: str = "127.0.0.1",
    tls: tuple[Path, Path] | None = None,
    ready_within: float = 30,
) -> Iterator[CollectorProcess]:
    """`vigie-collector run` on a free port of `address` with its store in `tmp`; HTTPS with
    `tls` (certificate, key)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = tmp / "collector.toml"
    server = f'tls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n' if tls else ""
    config.write_text(
        f'[server]\nlisten = "{address}:{port}"\n{server}[storage]\npath = "{tmp}/collector.db"\n'
        f"{extra}"
    )
    scheme = "https" if tls else "http"
    collector = CollectorProcess(config, f"{scheme}://{address}:{port}", ready_within=ready_within)
    collector.start()
    try:
        yield collector
    finally:
        if collector.proc is not None and collector.proc.poll() is None:
            collector.proc.kill()
            collector.proc.wait()


def agent_config(
    tmp: Path, url: str, token: str, site: str, host: str, extra: str = "", link: str = ""
) -> Path:
    """An agent.toml reporting to `url` every second, spool in `tmp`; `link` goes in its
    [collector] table, `extra` at the end."""
    token_file = tmp / "agent.token"
    token_file.write_text(token + "\n")
    path = tmp / "agent.toml"
    path.write_text(
        f'[agent]\nsite = "{site}"\nhost = "{host}"\ninterval = 1\n'
        f'[collector]\nurl = "{url}"\ntoken_file = "{token_file}"\ntimeout = 5\n{link}\n'
        f'[spool]\npath = "{tmp}/spool.db"\n{extra}'
    )
    return path


def start_agent(
    config: Path, prefix: tuple[str, ...] = (), log: Path | None = None
) -> subprocess.Popen[str]:
    """`vigie-agent run --config FILE` as a child process (under `prefix`, e.g. ip netns exec).
    Its output is piped for the test to read, or goes to `log` for a long run: an unread pipe
    fills up and the agent would block on its next log line."""
    with open(log, "w") if log else contextlib.nullcontext(subprocess.PIPE) as out:
        return subprocess.Popen(
            [*prefix, str(VENV_BIN / "vigie-agent"), "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def post(
    url: str, body: bytes, token: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """POST with a token, as an agent would: (status, response text); errors are answers too."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Token {token}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30, context=_tls(url)) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def get_json(url: str, token: str) -> Any:
    """GET with a token; the decoded JSON."""
    import json

    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30, context=_tls(url)) as response:
        return json.loads(response.read())


def query_series(url: str, token: str) -> list[Any]:
    """The series of a `/api/v1/query` URL; [] while the measurement or field does not exist
    yet (the collector answers 404 naming those that do)."""
    try:
        return list(get_json(url, token)["series"])
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return []
        raise


def stored_batches(db: Path) -> tuple[list[int], int]:
    """Sequence numbers of the agent batches a collector store holds, and how many rows they
    fill (a duplicate makes the second larger than the first's length)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # Metrics batches land in ingest_log, inventories in their own table (with their keys).
        keys = [k for (k,) in conn.execute("SELECT key FROM batch_key")]
        documents = [k for (k,) in conn.execute("SELECT key FROM inventory_batch")]
        # the collector files its own health in ingest_log too (site _vigie, no batch key)
        logged = conn.execute(
            "SELECT count(*) FROM ingest_log WHERE site != ?", (OWN_SITE,)
        ).fetchone()[0]
        inventories = conn.execute("SELECT count(*) FROM inventory").fetchone()[0]
    finally:
        conn.close()
    assert len(documents) >= inventories
    found = sorted(int(k.rsplit(":", 1)[1]) for k in keys + documents)
    return found, int(logged) + len(documents)


def spool_depth(path: Path) -> int:
    """Batches waiting in an agent's spool (read-only: the agent may be running)."""
    spool = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(spool.execute("SELECT count(*) FROM batch").fetchone()[0])
    finally:
        spool.close()


def assert_stored_once_without_gaps(collector: CollectorProcess, host: str) -> None:
    """Every agent batch in the collector once, in sequence, and the host's CPU points of the
    last ten minutes at most 3 s apart (the agent collects every second)."""
    import itertools

    assert collector.config.parent.joinpath("collector.db").exists()
    seqs, logged = stored_batches(collector.config.parent / "collector.db")
    assert seqs == list(range(1, len(seqs) + 1)), "a batch is missing"
    assert logged == len(seqs), "a batch was stored twice"
    reader = collector.token("", "", role="reader")
    series = get_json(
        f"{collector.url}/api/v1/query?measurement=cpu&field=usage_idle&host={host}"
        f"&start={int(time.time()) - 600}",
        reader,
    )["series"]
    stamps = [ts for ts, _ in series[0]["points"]]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) <= 3, f"points lost: gaps {gaps}"
