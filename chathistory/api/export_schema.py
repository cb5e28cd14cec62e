"""The OpenAPI description of the export routes (chathistory/api/export.py): the query
is the lists' filters plus `format`; the answer is a file, not JSON."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from .schema import CHAT_TAGS
from .serializers import ExportSerializer


class SessionExportFilters(ExportSerializer):
    session = None  # the route names the session


_FILE = OpenApiResponse(
    OpenApiTypes.BINARY,
    description="The messages, oldest first, as a download (Content-Disposition: "
    "attachment). CSV: UTF-8 with a byte order mark; a cell starting with = + - @ "
    "is written with a leading ' (no spreadsheet formula). JSONL: one message per line.",
)
_ANSWERS = {(200, "text/csv"): _FILE, (200, "application/x-ndjson"): _FILE}
_DESCRIPTION = (
    "Streamed while the rows are read: any number of messages. Columns (CSV) and keys "
    "(JSONL): id, created_at (the hub's TIME_ZONE), device, device_alias, agent_id, "
    "session_id, session_title, role, speaker, content, tool_name, tool_arguments, source_id."
)


def _export(summary: str, filters) -> object:
    return extend_schema_view(
        get=extend_schema(
            tags=CHAT_TAGS,
            summary=summary,
            description=_DESCRIPTION,
            parameters=[filters],
            responses=_ANSWERS,
        )
    )


message_export = _export("Export the messages of a search (all devices)", ExportSerializer)
device_export = _export("Export a device's messages", ExportSerializer)
session_export = _export("Export a session's messages", SessionExportFilters)
