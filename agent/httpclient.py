"""The little HTTP/1.1 the agent speaks to its collector: POST a body, read the status and the
answer, keep the connection for the next request. Not http.client: it imports the email
package for header parsing, 1.3 MiB that a workstation agent would carry for years.

Answers are read by Content-Length, chunked, or to the close; a malformed answer raises
ProtocolError (an OSError, so callers treat it as the link failing and retry later).
"""

from __future__ import annotations

import socket
import ssl
from typing import BinaryIO

MAX_LINE = 8192
MAX_HEADERS = 100
MAX_BODY = 1 << 20


class ProtocolError(OSError):
    """The server's answer was not HTTP/1.x as expected."""


class RemoteClosed(ProtocolError):
    """The server closed a kept connection before answering (it may time idle ones out)."""


def _line(reader: BinaryIO) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError("answer line too long")
    return line


def _status(reader: BinaryIO) -> int:
    line = _line(reader)
    if not line:
        raise RemoteClosed("the collector closed the connection without answering")
    version, _, rest = line.decode("latin-1").partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ProtocolError(f"not an HTTP answer: {line[:80]!r}")
    return int(code)


def _headers(reader: BinaryIO) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = _line(reader)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise ProtocolError("the answer ended inside its headers")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    raise ProtocolError("too many headers")


def _chunked(reader: BinaryIO, limit: int) -> bytes:
    body = b""
    while True:
        size_text = _line(reader).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return body[:limit]
        if len(body) + size > MAX_BODY:
            raise ProtocolError("answer too long")
        body += reader.read(size)
        reader.readline(3)  # the chunk's CRLF


class Connection:
    """One HTTP(S) connection to host:port, opened when first needed and kept until `close`."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext | None, timeout: float
    ) -> None:
        self._host, self._port = host, port
        self._context = context
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: BinaryIO | None = None

    @property
    def open(self) -> bool:
        """Whether a connection is kept from a previous request."""
        return self._sock is not None

    def _connect(self) -> tuple[socket.socket, BinaryIO]:
        # An ASCII name given as bytes skips the idna codec, which loads `unicodedata` (a
        # quarter MiB kept for the agent's life); a non-ASCII name still goes through it.
        name: str | bytes = self._host.encode("ascii") if self._host.isascii() else self._host
        sock = socket.create_connection((name, self._port), self._timeout)  # type: ignore[arg-type]
        try:
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=name)
        except BaseException:
            sock.close()
            raise
        self._sock, self._reader = sock, sock.makefile("rb")
        return sock, self._reader

    def post(
        self, path: str, body: bytes, headers: dict[str, str], limit: int = 65536
    ) -> tuple[int, bytes]:
        """(status, the answer's first `limit` bytes). Raises OSError (ProtocolError for an
        answer that is not HTTP, RemoteClosed when a kept connection was closed)."""
        sock, reader = (
            (self._sock, self._reader) if self._sock and self._reader else self._connect()
        )
        host = self._host if ":" not in self._host else f"[{self._host}]"
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{self._port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            status = _status(reader)
            while 100 <= status < 200:  # interim answers
                _headers(reader)
                status = _status(reader)
            fields = _headers(reader)
            answer, reusable = self._body(reader, status, fields, limit)
        except BaseException:
            self.close()
            raise
        if not reusable:
            self.close()
        return status, answer

    def _body(
        self, reader: BinaryIO, status: int, fields: dict[str, str], limit: int
    ) -> tuple[bytes, bool]:
        keep = fields.get("connection", "").lower() != "close"
        if status in (204, 304):
            return b"", keep
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return _chunked(reader, limit), keep
        length = fields.get("content-length")
        if length is None:
            return reader.read(MAX_BODY)[:limit], False  # until the server closes
        if not length.isdigit() or int(length) > MAX_BODY:
            raise ProtocolError(f"bad Content-Length {length[:20]!r}")
        data = reader.read(int(length))
        if len(data) < int(length):
            raise ProtocolError("the answer ended early")
        return data[:limit], keep

    def close(self) -> None:
        """Close the connection; the next post opens a new one."""
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None
