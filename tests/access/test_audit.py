"""The audit trail of REST changes: Django's LogEntry, so the admin's History of the
object shows them; values shown, secrets masked; the Audit log admin is read-only
and for administrators."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.test import Client
from rest_framework.test import APIClient

from endpoints.models import Endpoint, McpServer, Tool
from tests.access.identities import make_user

pytestmark = pytest.mark.django_db

TOKEN = "AuditSecretToken"
URL = f"wss://api.xiaozhi.me/mcp/?token={TOKEN}"


@pytest.fixture
def administrator():
    return make_user("administrator")


@pytest.fixture
def api(administrator) -> APIClient:
    client = APIClient()
    client.force_login(administrator)
    return client


def test_endpoint_changes_are_audited_with_the_token_masked(api, administrator):
    created = api.post("/api/endpoints", {"name": "relay", "url": URL}, format="json")
    assert created.status_code == 201
    endpoint = Endpoint.objects.get()
    api.patch(f"/api/endpoints/{endpoint.pk}", {"name": "relay-2"}, format="json")
    api.patch(f"/api/endpoints/{endpoint.pk}", {"name": "relay-2"}, format="json")  # no change
    api.post(f"/api/endpoints/{endpoint.pk}/reconnect")
    api.delete(f"/api/endpoints/{endpoint.pk}")

    entries = list(LogEntry.objects.filter(object_id=str(endpoint.pk)).order_by("pk"))
    assert [e.action_flag for e in entries] == [ADDITION, CHANGE, CHANGE, DELETION]
    assert all(e.user_id == administrator.pk for e in entries)
    added, renamed, reconnect, deleted = (e.get_change_message() for e in entries)
    assert "url 'wss://api.xiaozhi.me/mcp/?token=***'" in added and TOKEN not in added
    assert renamed == "Changed via the REST API: name 'relay' → 'relay-2'."
    assert reconnect == "Reconnect failed via the REST API."  # no pool runs here
    assert deleted == "Deleted via the REST API."
    assert entries[-1].object_repr == "relay-2"


def test_options_tool_and_tool_call_requests_are_audited(api):
    server = McpServer.objects.create(name="web", transport="sse", url="https://mcp.example/sse")
    tool = Tool.objects.create(server=server, upstream_name="search", exposed_name="web__search")
    assert api.patch("/api/pool/options", {"jitter": False}, format="json").status_code == 200
    assert api.patch(f"/api/tools/{tool.pk}", {"enabled": False}, format="json").status_code == 200
    body = {"name": "web__search", "arguments": {"password": "hunter2"}}
    api.post("/api/tools/call", body, format="json")

    messages = [e.get_change_message() for e in LogEntry.objects.order_by("pk")]
    assert messages[0] == "Changed via the REST API: jitter true → false."
    assert messages[1] == "Changed via the REST API: enabled true → false."
    assert messages[2] == "Tool 'web__search' called (arguments not recorded) via the REST API."
    assert not any("hunter2" in message for message in messages)


def test_the_audit_log_admin_is_read_only_and_for_administrators(administrator):
    McpServer.objects.create(name="web", transport="sse", url="https://mcp.example/sse")
    api = APIClient()
    api.force_login(administrator)
    api.patch(f"/api/mcp-servers/{McpServer.objects.get().pk}", {"enabled": False}, format="json")
    entry = LogEntry.objects.get()

    client = Client()
    client.force_login(administrator)
    listing = client.get("/admin/admin/logentry/")
    assert listing.status_code == 200
    assert "Changed via the REST API: enabled true → false." in listing.content.decode()
    detail = client.get(f"/admin/admin/logentry/{entry.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    superuser = Client()
    superuser.force_login(make_user("superuser"))
    assert superuser.get("/admin/admin/logentry/add/").status_code == 403
    assert superuser.post(f"/admin/admin/logentry/{entry.pk}/delete/").status_code == 403
    assert LogEntry.objects.filter(pk=entry.pk).exists()
