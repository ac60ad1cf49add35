"""One smoke test per real service: each is used for real, not just started."""

from __future__ import annotations

import http.server
import smtplib
import subprocess
import threading
from email.message import EmailMessage
from pathlib import Path

import paramiko
import pytest

from tests.services import Browser, Influx, MailSink, SnmpAgent, SshServer

pytestmark = pytest.mark.services  # every test here starts real processes

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
XUPS_MODEL = "1.3.6.1.4.1.534.1.1.2.0"


def test_influxdb_write_and_read(influxdb: Influx) -> None:
    influxdb.query('CREATE DATABASE "smoke"')
    assert influxdb.write("smoke", "cpu,site=Annonay usage_idle=42.5 1700000000\n") == 204
    result = influxdb.query("SELECT usage_idle FROM cpu WHERE site='Annonay'", db="smoke")
    assert result["results"][0]["series"][0]["values"] == [[1700000000, 42.5]]


def test_snmpd_v2c_and_v3(snmpd: SnmpAgent) -> None:
    assert "snmpd-test" in snmpd.get(SYS_NAME, snmpd.v2c_args())
    assert "snmpd-test" in snmpd.get(SYS_NAME, snmpd.v3_args())
    assert "Timeout" in snmpd.get(SYS_NAME, snmpd.v2c_args("wrong-community"))


def test_snmpsim_serves_recorded_walks(snmpsim: SnmpAgent) -> None:
    linux = snmpsim.get(SYS_DESCR, snmpsim.v2c_args("recorded/linux-full-walk"))
    assert "Linux" in linux
    windows = snmpsim.get(SYS_DESCR, snmpsim.v2c_args("recorded/winxp-full-walk"))
    assert "Windows" in windows
    # The Eaton walk has no system group; xupsIdentModel is in its vendor MIB.
    ups = snmpsim.get(XUPS_MODEL, snmpsim.v3_args(context="recorded/eaton-9PX-partial-walk"))
    assert "Eaton 9PX" in ups, ups


def test_sshd_runs_a_command_with_a_pinned_host_key(sshd: SshServer) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kind, data = sshd.host_key_line.split()
    client.get_host_keys().add(
        f"[{sshd.host}]:{sshd.port}",
        kind,
        paramiko.PKey.from_type_string(kind, __import__("base64").b64decode(data)),
    )
    client.connect(
        sshd.host,
        sshd.port,
        username=sshd.user,
        key_filename=str(sshd.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    try:
        _stdin, stdout, _stderr = client.exec_command("echo vigie-$((40+2))", timeout=10)
        assert stdout.read().decode().strip() == "vigie-42"
    finally:
        client.close()


def test_smtp_receives_a_message(smtp: MailSink) -> None:
    before = len(smtp.messages)
    message = EmailMessage()
    message["From"], message["To"] = "vigie@example.org", "support@example.org"
    message["Subject"] = "Disque presque plein à Annonay"
    message.set_content("Le disque C: sera plein dans 5 jours.")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.send_message(message)
    received = smtp.wait(before + 1)
    assert received[-1]["Subject"] == "Disque presque plein à Annonay"
    assert smtp.envelopes[-1][1] == ["support@example.org"]


def test_chromium_runs_page_scripts(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        "<html><body><p id=out>static</p>"
        "<script>document.getElementById('out').textContent = 'rendu ' + (6 * 7);</script>"
        "</body></html>"
    )
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dom = browser.dump_dom(f"http://127.0.0.1:{server.server_port}/index.html")
    finally:
        server.shutdown()
    assert "rendu 42" in dom, dom[:500]
    assert subprocess.run([browser.executable, "--version"], capture_output=True).returncode == 0
