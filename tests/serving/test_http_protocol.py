"""penstock.serving.http_protocol on a real server, over raw sockets: a response's head and body
are written together, yet pipelined requests get their answers in order on one connection, a
``100 Continue`` head with no body behind it still reaches the client at once, and ``Connection:
close`` closes after the answer."""

from __future__ import annotations

import base64
import json
import re
import socket

from _serving_models import make_example

from penstock.serving.server import ModelServer


def _predict(rows: int = 1) -> bytes:
    example = base64.b64encode(make_example(payment_type="Cash")).decode()  # type: ignore[arg-type]
    return json.dumps({"instances": [{"b64": example}] * rows}).encode()


def _request(body: bytes, *headers: bytes) -> bytes:
    head = b"POST /v1/models/taxi:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    return head + b"".join(h + b"\r\n" for h in headers) + b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """(head, body) of the next response on ``sock``; what is read beyond it stays in ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed; got {bytes(buffer)!r}"
        buffer.extend(chunk)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length: (\d+)", head)[1]) if b"content-length" in head.lower() else 0  # type: ignore[index]
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        rest += chunk
    buffer[:] = rest[length:]
    return head, rest[:length]


def test_pipelined_requests_are_answered_in_order_on_one_connection(taxi_server: ModelServer) -> None:
    with socket.create_connection(("127.0.0.1", taxi_server.rest_port), timeout=30) as sock:
        sock.sendall(b"".join(_request(_predict(rows)) for rows in (1, 3, 2)))
        buffer = bytearray()
        answers = [_read_response(sock, buffer) for _ in range(3)]
    assert all(head.startswith(b"HTTP/1.1 200") for head, _ in answers), answers
    # each answer is its own request's, in order: as many predictions as that request's rows
    assert [len(json.loads(body)["predictions"]) for _, body in answers] == [1, 3, 2], answers


def test_a_100_continue_is_sent_before_the_body_arrives(taxi_server: ModelServer) -> None:
    """The head of ``100 Continue`` has no body behind it: it must not wait for one."""
    body = _predict()
    request = _request(body, b"Expect: 100-continue")
    with socket.create_connection(("127.0.0.1", taxi_server.rest_port), timeout=10) as sock:
        sock.sendall(request[: -len(body)])
        buffer = bytearray()
        interim, _ = _read_response(sock, buffer)  # a timeout here: the 100 waited for a body
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(body)
        head, answer = _read_response(sock, buffer)
    assert head.startswith(b"HTTP/1.1 200") and answer.startswith(b'{"predictions"'), (head, answer)


def test_connection_close_closes_after_the_whole_answer(taxi_server: ModelServer) -> None:
    with socket.create_connection(("127.0.0.1", taxi_server.rest_port), timeout=30) as sock:
        sock.sendall(_request(_predict(), b"Connection: close"))
        received = bytearray()
        while chunk := sock.recv(65536):
            received.extend(chunk)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower(), head
    assert len(body) == int(re.search(rb"(?im)^content-length: (\d+)", head)[1])  # type: ignore[index]
