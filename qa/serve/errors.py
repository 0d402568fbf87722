"""One JSON error shape for every HTTP error: `{"error": {"status": N, "code": "...", "message": "..."}}`.

Handlers for QAError, Starlette's HTTP errors (unknown route 404, 405), FastAPI's request validation
errors and anything unexpected (a plain 500 without details; the traceback goes to the server log only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.errors import QAError
from qa.serve.schemas import MAX_ARTICLE_FILTER, MAX_CONTEXT_TOKENS, MAX_K, MAX_QUERY_CHARS

log = logging.getLogger("qa.api")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}

# What a client should read when a field of a request body is wrong, whatever pydantic's reason.
FIELD_MESSAGES = {
    "k": f"k must be an integer between 1 and {MAX_K}",
    "mode": "mode must be one of hybrid, dense, lexical",
    "max_tokens": f"max_tokens must be an integer between 1 and {MAX_CONTEXT_TOKENS}",
    "articles": f"articles must be null or a list of at most {MAX_ARTICLE_FILTER} article ids (strings)",
    "read": "read must be true, false or null",
    "filter": 'filter must be null or a JSON object of field conditions, e.g. {"tags": "news"}',
}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "code": code, "message": message}}, status_code=status, headers=headers
    )


def _query_message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "string_too_long":
        return f"query is longer than {MAX_QUERY_CHARS} characters"
    if kind in ("string_too_short", "string_pattern_mismatch", "missing"):
        return "query must not be empty"
    return "query must be a string"


def validation_message(errors: Sequence[Any]) -> tuple[int, str, str]:
    """(status, code, message) for the first of FastAPI's validation errors."""
    err = dict(errors[0]) if errors else {}
    loc = [str(p) for p in err.get("loc", ())]
    kind = str(err.get("type", ""))
    if kind == "json_invalid":
        return 400, "invalid_json", "request body is not valid JSON"
    if loc[:1] == ["body"]:
        if len(loc) == 1:
            if kind == "missing":
                return (
                    422,
                    "invalid_body",
                    "request body is required: a JSON object (Content-Type: application/json)",
                )
            return 422, "invalid_body", "request body must be a JSON object (Content-Type: application/json)"
        field = loc[1]
        if kind == "extra_forbidden":
            return 422, "unknown_field", f"unknown field {field[:50]!r}"
        if field == "query":
            return 422, "invalid_query", _query_message(err)
        if field in FIELD_MESSAGES:
            return 422, f"invalid_{field}", FIELD_MESSAGES[field]
    where = ".".join(loc[:4]) or "request"
    return 422, "invalid_request", f"{where}: {err.get('msg', 'invalid value')}"


async def _qa_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QAError)
    status = exc.status if 400 <= exc.status < 600 else 500
    if status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return error_response(status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = f"no route {request.method} {request.url.path[:200]}"
    elif status == 405:
        message = f"method {request.method} is not allowed here"
    elif status == 400 and exc.detail == "There was an error parsing the body":  # FastAPI: bytes not UTF-8
        return error_response(400, "invalid_json", "request body is not valid JSON (UTF-8)")
    else:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(status, HTTP_CODES.get(status, "error"), message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    status, code, message = validation_message(exc.errors())
    return error_response(status, code, message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; see the server log")


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""
    app.add_exception_handler(QAError, _qa_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
