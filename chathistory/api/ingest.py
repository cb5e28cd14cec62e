"""POST /xiaozhi/agent/chat-history/report: manager-api's report endpoint, served by the hub.

Answers like manager-api (`{"code": 0, "msg": "success", "data": true}`),
so xiaozhi-esp32-server's core can be pointed here unchanged.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..metrics import ingest_counted
from ..services import chat_report_ingest
from ..sources.report import ReportError, parse_report
from .history import ingest_history_counted

logger = logging.getLogger(__name__)


def _answer(code: int, msg: str, http_status: int) -> JsonResponse:
    data = code == 0
    return JsonResponse({"code": code, "msg": msg, "data": data}, status=http_status)


def _authorized(request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), settings.HUB_REPORT_SECRET.encode())


@method_decorator(csrf_exempt, name="dispatch")
class ChatReportView(View):
    http_method_names = ["post"]

    @ingest_counted  # Prometheus: xiaozhi_hub_report_ingest_total by outcome
    @ingest_history_counted  # accepted / rejected per minute (chathistory.IngestBucket)
    def post(self, request):
        if not settings.HUB_REPORT_SECRET:
            return _answer(
                403, "chat-history ingest is disabled: HUB_REPORT_SECRET is not set", 403
            )
        if not _authorized(request):
            return _answer(
                401, "unauthorized: a valid Authorization: Bearer <secret> is required", 401
            )
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            body = request.body  # Django refuses one over `limit` by its Content-Length
        except RequestDataTooBig:
            body = None
        if body is None or (limit is not None and len(body) > limit):
            # Answered here, not by Django's HTML 400: the core reads this JSON shape.
            return _answer(413, f"bad report: too large (over {limit} bytes)", 413)
        try:
            report = parse_report(body, max_depth=settings.HUB_JSON_MAX_DEPTH)
        except ReportError as exc:
            return _answer(400, f"bad report: {exc}", 400)
        try:
            chat_report_ingest(report=report)
        except DatabaseError:
            logger.exception("chat report from %s could not be stored", report.mac)
            # 5xx: the core retries, and the retry is idempotent.
            return _answer(500, "the hub could not store the report; retry later", 503)
        return _answer(0, "success", 200)

    def http_method_not_allowed(self, request, *args, **kwargs):
        return _answer(405, "only POST is accepted here", 405)
