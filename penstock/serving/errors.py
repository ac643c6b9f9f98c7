"""Errors of the model server.

``ServingConfigError`` is a user mistake in how the server is started (a bad flag or model config
file). ``RequestError`` is a bad request: it carries a canonical status code (the gRPC code
names TF Serving uses) that the REST layer maps to an HTTP status and the gRPC layer to a gRPC
status, so both protocols answer the same mistake the same way.
"""

from __future__ import annotations

from penstock.errors import PenstockError

# canonical code -> HTTP status, as TF Serving's REST handler maps them
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "RESOURCE_EXHAUSTED": 413,
    "UNAVAILABLE": 503,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
}


class ServingConfigError(PenstockError):
    """The model server was started with a bad flag, model name, base path or model config file."""


class RequestError(PenstockError):
    """A request the server refuses; ``code`` is a canonical (gRPC) status code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def invalid(message: str) -> RequestError:
    return RequestError("INVALID_ARGUMENT", message)


def not_found(message: str) -> RequestError:
    return RequestError("NOT_FOUND", message)
