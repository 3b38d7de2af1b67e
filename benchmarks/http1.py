"""A minimal HTTP/1.1 client on asyncio streams, for load generators that share the
server's cores: one keep-alive connection per simulated gate, requests sent as
pre-encoded bytes, answers read by Content-Length (or chunked).

httpx costs the load generator ~6 ms of CPU per verified capture (request building,
header objects, its connection pool); this costs a fraction of that, so the figures
measure the server rather than the client. Loopback plain HTTP only: no TLS, no
redirects, no proxies, no cookies.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any


class TransportError(Exception):
    """The connection failed or the answer was not HTTP/1.1 as expected."""


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    headers: dict[str, str]  # names lower-case
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Connection:
    """One keep-alive connection to `host:port`, one request at a time; reconnects
    when the server has closed it. `timeout_s` bounds each request."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._host_line = f"Host: {host}:{port}\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: bytes = b"", body: bytes = b""
    ) -> Response:
        """`headers`: pre-encoded header lines, each ending in CRLF."""
        head = b"".join(
            (
                f"{method} {path} HTTP/1.1\r\n".encode(),
                self._host_line,
                headers,
                f"Content-Length: {len(body)}\r\n\r\n".encode(),
            )
        )
        # A kept-alive connection the server has closed fails on first use: send once more
        # on a new one (the load generator's writes carry an Idempotency-Key).
        for attempt in range(2):
            reused = self._writer is not None
            try:
                return await self._exchange(head, body)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                self.close()
                if not reused or attempt == 1:
                    raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    async def _exchange(self, head: bytes, body: bytes) -> Response:
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                assert self._reader is not None
                self._writer.write(head)
                self._writer.write(body)
                return await _read_response(self._reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except TransportError:
            self.close()  # the stream is in an unknown state
            raise
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()  # the stream is in an unknown state
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _read_response(reader: asyncio.StreamReader) -> Response:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise TransportError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        content = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        content = await _read_chunked(reader)
    else:
        raise TransportError("answer without Content-Length or chunked encoding")
    return Response(int(parts[1]), headers, content)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers from this server
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def header_lines(headers: dict[str, str]) -> bytes:
    """`headers` as pre-encoded lines for `Connection.request`."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()


def json_body(value: Any) -> tuple[bytes, bytes]:
    """(Content-Type line, body) for a JSON value."""
    return b"Content-Type: application/json\r\n", json.dumps(value).encode()


def multipart_body(
    files: dict[str, tuple[str, bytes, str]], fields: dict[str, str] | None = None
) -> tuple[bytes, bytes]:
    """(Content-Type line, body) of a multipart/form-data request: `files` maps a field
    to (file name, bytes, content type). Encode once and reuse for every request."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, data, ctype) in files.items():
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode(), b"".join(parts)
