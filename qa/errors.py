"""One exception base; each subclass carries the HTTP status and a stable error code."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error `qa` raises on purpose. The message says what to do next."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidRequest(QAError):
    status = 422
    code = "invalid_request"


class NotFound(QAError):
    status = 404
    code = "not_found"


class Unauthorized(QAError):
    status = 401
    code = "unauthorized"


class Forbidden(QAError):
    status = 403
    code = "forbidden"


class IndexMissing(QAError):
    status = 503
    code = "index_missing"


class IndexMismatch(QAError):
    """The index on disk was built with other settings than the running ones."""

    status = 503
    code = "index_mismatch"


class IndexCorrupt(QAError):
    status = 503
    code = "index_corrupt"


class Overloaded(QAError):
    status = 503
    code = "overloaded"


class ConfigError(QAError):
    status = 500
    code = "config_error"


class MilvusError(QAError):
    """Milvus could not be reached or refused a request."""

    status = 503
    code = "store_unavailable"
