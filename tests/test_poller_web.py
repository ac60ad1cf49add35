"""The `web` kind against real HTTP(S) servers on loopback: status, latency, a certificate
about to expire, and the shipped rules on what the poller sends."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.config import DeviceConfig
from agent.poller.poll import Poller
from protocol.lineproto import Point, format_points
from tests.alert_support import Lab
from tests.poller_support import by
from tests.services import MailSink


class Answer(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"mairie")

    def log_message(self, *args: object) -> None:
        pass


class Down(Answer):
    status = 503


def self_signed(folder: Path, days: int) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that expires in `days` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mairie.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=80))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An HTTPS site whose certificate expires in 10 days, and an HTTP site answering 503."""
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path, 10))
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    down = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Down)
    for server in (tls, down):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{tls.server_port}/", f"http://127.0.0.1:{down.server_port}/"
    for server in (tls, down):
        server.shutdown()


def web(name: str, url: str) -> DeviceConfig:
    return DeviceConfig(name, url, "web", 60, reach="off")


def poll(*devices: DeviceConfig) -> dict[str, list[Point]]:
    """One poll now: a certificate's expiry counts from the real time."""
    return asyncio.run(Poller().poll_all(devices, int(time.time())))


def test_web_checks_status_and_certificate(servers: tuple[str, str]) -> None:
    site, box = servers
    found = poll(web("site", site), web("box", box))
    (cert,) = by(found["site"], "x509_cert")
    assert 9 * 86400 < int(cert.fields["expiry"]) <= 10 * 86400
    assert cert.fields["verification_code"] == 1  # self-signed: read anyway, and said
    (site_check,) = by(found["site"], "http_response")
    # the default TLS check refuses a self-signed site: that is what a browser would say
    assert site_check.tags["result"] == "connection_failed"
    (box_check,) = by(found["box"], "http_response")
    assert box_check.fields["http_response_code"] == 503
    assert box_check.tags["result"] == "response_status_code_mismatch"
    (status,) = by(found["box"], "device_poll")
    assert status.fields["ok"] is False and "503" in str(status.fields["error"])


def test_shipped_rules_on_web_checks(
    servers: tuple[str, str], tmp_path: Path, smtp: MailSink
) -> None:
    site, box = servers
    found = poll(web("site", site), web("box", box))
    with Lab(tmp_path, smtp, "web-checks@example.org") as lab:
        token = lab.token("Annonay", "", "poller")
        for minute in range(7):
            ts = int(lab.clock.now) - 360 + 60 * minute
            lines: list[Point] = [
                p._replace(time=ts, tags={**p.tags, "site": "Annonay", "host": host})
                for host, points in found.items()
                for p in points
                if p.measurement in ("http_response", "x509_cert")
            ]
            lab.write(token, format_points(lines))
        lab.step()
        firing = {(a["rule"], a["host"]): a for a in lab.alerts("firing")}
        assert ("website_down", "box") in firing
        expiring = firing[("certificate_expires_14d", "site")]
        assert expiring["value_text"].startswith("9 j") or expiring["value_text"].startswith("10 j")
        assert "expire dans" in expiring["summary"]
