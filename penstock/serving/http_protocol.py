"""uvicorn's httptools protocol, writing each response's head and body with one send.

Why: uvicorn writes the status line and headers as soon as the app sends
``http.response.start``, and the body on ``http.response.body``: two send(2) calls, and two TCP
segments on the REST socket (TCP_NODELAY), for every response. Profiled at concurrency 1
(bench/serving.py with wrk), the head's write alone took 12% of the server's time per request.
Here a head is held until the body written in the same event-loop turn joins it, or until the
end of that turn when none comes (a ``100 Continue``, a response streamed later), so nothing is
reordered or delayed beyond the turn that wrote it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _OneWritePerResponse:
    """A transport that joins a response head with the write that follows it."""

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head + data)
        elif data[:5] == b"HTTP/":  # a status line: uvicorn writes a whole head at once
            self._head = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a transport that sends a response's head with its body."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWritePerResponse(transport, self.loop))  # type: ignore[arg-type]
