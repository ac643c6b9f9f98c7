"""Errors of the model server.

``ServingConfigError`` is a user mistake in how the server is started (a bad flag or config
file). ``RequestError`` is a request the server refuses: it carries a canonical status code (the
gRPC code names TF Serving's absl::Status uses); the REST layer maps it to TF Serving's HTTP status
and the gRPC layer to the same gRPC status, so both protocols answer a mistake as TF Serving does.
"""

from __future__ import annotations

from penstock.errors import PenstockError

# canonical code -> HTTP status, as TF Serving's http_server.cc (ToHTTPStatusCode) maps them
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}
# TF Serving cuts gRPC error messages here (grpc_status_util.cc)
GRPC_MESSAGE_LIMIT = 1024


class ServingConfigError(PenstockError):
    """The model server was started (or reconfigured) with a bad flag, model name, base path or
    config file. ``code`` is what a HandleReloadConfigRequest carrying it answers (TF Serving's)."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.code = code


class RequestError(PenstockError):
    """A request the server refuses; ``code`` is a canonical (gRPC) status code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    @property
    def grpc_message(self) -> str:
        if len(self.message) > GRPC_MESSAGE_LIMIT:
            return self.message[:GRPC_MESSAGE_LIMIT] + "...TRUNCATED"
        return self.message


def invalid(message: str) -> RequestError:
    return RequestError("INVALID_ARGUMENT", message)


def not_found(message: str) -> RequestError:
    return RequestError("NOT_FOUND", message)


def failed_precondition(message: str) -> RequestError:
    return RequestError("FAILED_PRECONDITION", message)
