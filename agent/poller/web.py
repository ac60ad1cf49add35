"""The `web` kind: an HTTP(S) check of a URL (a commune's website, an internet box's page),
with Telegraf's `http_response` names, and the certificate's expiry as `x509_cert`."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from typing import NamedTuple
from urllib.parse import urlsplit

from protocol.lineproto import FieldValue, Point

# Telegraf's http_response result codes.
SUCCESS, CONNECTION_FAILED, TIMEOUT, DNS_ERROR, STATUS_MISMATCH = 0, 3, 4, 5, 6
RESULTS = {
    SUCCESS: "success", CONNECTION_FAILED: "connection_failed", TIMEOUT: "timeout",
    DNS_ERROR: "dns_error", STATUS_MISMATCH: "response_status_code_mismatch",
}  # fmt: skip


class Check(NamedTuple):
    """What one check found."""

    result: int
    status: int | None
    seconds: float
    error: str


def fetch(url: str, timeout: float, context: ssl.SSLContext | None = None) -> Check:
    """GET the URL (no redirect followed beyond urllib's), timed; a 4xx or 5xx is a status
    mismatch, as in Telegraf with its default expected codes."""
    # http(s) only: the config refuses any other scheme
    request = urllib.request.Request(url, headers={"User-Agent": "vigie-agent"})  # noqa: S310
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            response.read(65536)
            return Check(SUCCESS, int(response.status), time.perf_counter() - started, "")
    except urllib.error.HTTPError as err:
        return Check(STATUS_MISMATCH, err.code, time.perf_counter() - started, str(err))
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, socket.gaierror):
            return Check(DNS_ERROR, None, time.perf_counter() - started, str(reason))
        if isinstance(reason, TimeoutError | socket.timeout):
            return Check(TIMEOUT, None, time.perf_counter() - started, str(reason))
        return Check(CONNECTION_FAILED, None, time.perf_counter() - started, str(reason))
    except TimeoutError as err:
        return Check(TIMEOUT, None, time.perf_counter() - started, str(err))
    except OSError as err:
        return Check(CONNECTION_FAILED, None, time.perf_counter() - started, str(err))


def certificate_end(host: str, port: int, timeout: float) -> tuple[int, str]:
    """(notAfter as Unix time, verification error or "") of the server's certificate, read
    even when it does not verify: a self-signed box still has an expiry worth watching."""
    from cryptography import x509  # with paramiko, the poller's extra

    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        unverified.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("no certificate")
    end = int(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ssl.create_default_context().wrap_socket(raw, server_hostname=host),
        ):
            return end, ""
    except ssl.SSLCertVerificationError as err:
        return end, err.verify_message or str(err)


def check(url: str, now: int, timeout: float = 10.0) -> list[Point]:
    """`http_response` (and `x509_cert` for HTTPS) of one URL; never raises."""
    parts = urlsplit(url)
    tags = {"server": url, "method": "GET"}
    found = fetch(url, timeout)
    fields: dict[str, FieldValue] = {
        "result_code": found.result,
        "response_time": round(found.seconds, 4),
    }
    if found.status is not None:
        fields["http_response_code"] = found.status
    if found.error:
        fields["error"] = found.error[:200]
    points = [Point("http_response", {**tags, "result": RESULTS[found.result]}, fields, now)]
    if parts.scheme == "https" and parts.hostname:
        try:
            end, problem = certificate_end(parts.hostname, parts.port or 443, timeout)
        except (OSError, ValueError) as err:
            points[0] = points[0]._replace(fields={**fields, "certificate_error": str(err)[:200]})
            return points
        cert: dict[str, FieldValue] = {
            "expiry": end - now,
            "enddate": end,
            "verification_code": int(bool(problem)),
        }
        if problem:
            cert["verification_error"] = problem[:200]
        points.append(Point("x509_cert", {"source": url}, cert, now))
    return points
