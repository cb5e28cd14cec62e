"""The sync's history over REST (GET /api/v2/sync/history), and the ingest counter of the
report endpoint (docs/chat-history.md, "History")."""

from __future__ import annotations

from functools import wraps

from rest_framework.response import Response
from rest_framework.views import APIView

from xiaozhi_hub.history import requested_range

from ..history_selectors import sync_history
from ..history_services import ingest_count
from . import history_schema as schema


@schema.sync_history
class SyncHistoryView(APIView):
    """?range=24h (minute buckets, the default) | 7d | 30d (hour buckets)."""

    permissions_required = {
        "GET": (
            "chathistory.view_syncrun",
            "chathistory.view_syncbucket",
            "chathistory.view_ingestbucket",
        )
    }

    def get(self, request):
        return Response(sync_history(window=requested_range(request)))


def ingest_history_counted(post):
    """Counts each answer of the report endpoint in its minute: 200 accepted, any other
    answer (unauthorized, bad or too large a report, a storage error) rejected."""

    @wraps(post)
    def counted(view, request, *args, **kwargs):
        response = post(view, request, *args, **kwargs)
        ingest_count(accepted=response.status_code == 200)
        return response

    return counted
