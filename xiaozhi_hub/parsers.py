"""The REST API's JSON parser and its errors (REST_FRAMEWORK in settings.py).

DRF's own JSONParser recurses without a limit, so a deeply nested body was a
500. `LimitedJSONParser` parses with `loads_limited`: nesting beyond
HUB_JSON_MAX_DEPTH, NaN/Infinity and lone surrogates answer 400. A body over
Django's DATA_UPLOAD_MAX_MEMORY_SIZE is refused by Django as DRF reads it
(RequestDataTooBig, an HTML 400); `exception_handler` makes that a JSON 413.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser, get_encoding

from .jsonlimits import JsonInputError, JsonTooLarge, loads_limited


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _too_large() -> RequestTooLarge:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return RequestTooLarge(f"The request body is too large (over {limit} bytes).")


class LimitedJSONParser(JSONParser):
    # A JSONParser subclass on purpose: DRF then hands it a copy of request.body, so
    # views (and the CSRF check) can still read the body after parsing.
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        max_bytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # None: Django's "no limit"
        raw = stream.read() if max_bytes is None else stream.read(max_bytes + 1)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - not {encoding} text: {exc.reason}") from None
        try:
            return loads_limited(text, max_depth=settings.HUB_JSON_MAX_DEPTH, max_bytes=max_bytes)
        except JsonTooLarge:
            raise _too_large() from None
        except JsonInputError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def exception_handler(exc, context):
    """DRF's handler; a body over DATA_UPLOAD_MAX_MEMORY_SIZE becomes a JSON 413."""
    # Imported here: rest_framework.views imports this module (DEFAULT_PARSER_CLASSES)
    # while it is being imported itself.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RequestDataTooBig):
        exc = _too_large()
    return drf_exception_handler(exc, context)
