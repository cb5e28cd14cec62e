"""The admin for the roles: a viewer sees rows without their secrets (Django would show a
read-only field's stored value) and is offered no action that changes or reaches the pool."""

from __future__ import annotations

import pytest
from django.test import Client

from endpoints.models import Endpoint, McpServer, Tool
from tests.access.identities import make_user

pytestmark = pytest.mark.django_db

SECRET = "AdminSecretValue"


def admin_as(identity: str) -> Client:
    client = Client()
    client.force_login(make_user(identity))
    return client


def actions(page: str) -> set[str]:
    names = ("reconnect_now", "check_health_now", "enable", "disable", "refresh_tools")
    return {name for name in names if f'value="{name}"' in page}


def test_a_viewer_sees_no_secret_of_an_endpoint_or_a_server():
    endpoint = Endpoint.objects.create(name="relay", url=f"wss://x.example/mcp/?token={SECRET}")
    server = McpServer.objects.create(
        name="web",
        transport="sse",
        url=f"https://mcp.example/sse?key={SECRET}",
        headers={"Authorization": f"Bearer {SECRET}"},
        replica_urls=[f"https://mcp2.example/sse?key={SECRET}"],
    )
    stdio = McpServer.objects.create(
        name="local", command="npx", args=[f"--token={SECRET}"], env={"KEY": SECRET}
    )
    viewer = admin_as("viewer")
    for path in (
        f"/admin/endpoints/endpoint/{endpoint.pk}/change/",
        f"/admin/endpoints/mcpserver/{server.pk}/change/",
        f"/admin/endpoints/mcpserver/{stdio.pk}/change/",
    ):
        page = viewer.get(path)
        assert page.status_code == 200
        assert SECRET not in page.content.decode(), path
        assert "***" in page.content.decode(), "the masked form is still shown"


def test_only_those_who_may_change_rows_are_offered_the_actions():
    Endpoint.objects.create(name="relay", url="wss://x.example/mcp/?token=t")
    server = McpServer.objects.create(name="web", transport="sse", url="https://mcp.example/sse")
    Tool.objects.create(server=server, upstream_name="search", exposed_name="web__search")
    pages = ("/admin/endpoints/endpoint/", "/admin/endpoints/mcpserver/", "/admin/endpoints/tool/")
    viewer, operator = admin_as("viewer"), admin_as("operator")
    for path in pages:
        assert actions(viewer.get(path).content.decode()) == set(), path
    assert actions(operator.get(pages[0]).content.decode()) == {
        "reconnect_now",
        "check_health_now",
        "enable",
        "disable",
    }
    assert actions(operator.get(pages[1]).content.decode()) == set()  # servers: administrators
    assert actions(operator.get(pages[2]).content.decode()) == {"enable", "disable"}
    # A crafted action POST is refused too (Django checks the action's permission).
    relay = Endpoint.objects.get()
    viewer.post(pages[0], {"action": "disable", "_selected_action": [relay.pk]})
    relay.refresh_from_db()
    assert relay.enabled is True
