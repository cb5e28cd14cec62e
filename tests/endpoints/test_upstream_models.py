"""McpServer / Tool / ToolCall: validation, configs for the runtime, the worker's stores."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from endpoints.mcp_server_secrets import mask_upstream_url
from endpoints.models import Endpoint, McpServer, Tool, ToolCall
from endpoints.selectors.endpoint import pool_configs_for
from endpoints.selectors.mcp_server import tool_calls_tail, upstream_configs
from endpoints.services.mcp_server import mcp_server_update
from endpoints.services.mcp_server_status import mcp_server_status_store, tool_catalog_store
from endpoints.services.tool_call_log import tool_calls_prune, tool_calls_record
from endpoints.upstreams.config import ReplicaConfig, ToolSettings
from endpoints.upstreams.records import CallRecord, ReplicaStatus, ServerStatus, UpstreamTool
from endpoints.worker.upstream_reports import PRUNE_INTERVAL, CallLogWriter
from tests.endpoints.conftest import SECRET_MARK, secret_url
from tests.endpoints.upstream_helpers import http_server, stdio_server

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"name": "a__b", "command": "x"}, "name", "'__'"),
        ({"name": "hub", "command": "x"}, "name", "reserved"),
        ({"name": "", "command": "x"}, "name", "blank"),
        ({"name": "ok", "command": ""}, "command", "needs a command"),
        ({"name": "ok", "transport": "sse", "url": ""}, "url", "needs a URL"),
        ({"name": "ok", "transport": "sse", "url": f"ws://h/sse?key={SECRET_MARK}"}, "url",
         "not an http:// or https:// URL"),
        ({"name": "ok", "transport": "sse", "url": "https://h/sse",
          "replica_urls": [f"ftp://h/?token={SECRET_MARK}"]}, "replica_urls", "replica URL 1"),
        ({"name": "ok", "command": "x", "env": {"A": 1}}, "env", "strings"),
        ({"name": "ok", "command": "x", "args": "a b"}, "args", "list of strings"),
        ({"name": "ok", "command": "x", "replicas": 0}, "replicas", "greater than or equal"),
    ],
)  # fmt: skip
def test_bad_servers_are_refused_with_masked_errors(fields, field, fragment):
    server = McpServer(**fields)
    with pytest.raises(ValidationError) as caught:
        server.full_clean()
    errors = caught.value.message_dict
    assert field in errors and fragment in " ".join(errors[field]), errors
    assert SECRET_MARK not in str(errors)


def test_configs_for_the_runtime_carry_replicas_and_tool_settings():
    calc = stdio_server(replicas=3, cwd="/srv")
    web = http_server(load_balance="health-based", call_timeout=5)
    web.tools.create(upstream_name="search", exposed_name="web__search", enabled=False,
                     description_override="Search the web", timeout=2.5)  # fmt: skip
    web.tools.create(upstream_name="fetch", exposed_name="web__fetch")
    servers, settings = upstream_configs()
    by_name = {s.name: s for s in servers}
    assert by_name["calc"].transport == "stdio" and len(by_name["calc"].replicas) == 3
    assert by_name["calc"].replicas[0] == ReplicaConfig(
        command="python", args=("calc.py",), env=(("API_KEY", f"{SECRET_MARK}env"),), cwd="/srv"
    )
    assert [r.url for r in by_name["web"].replicas] == [web.url, *web.replica_urls]
    assert by_name["web"].replicas[1].headers == (("Authorization", f"Bearer {SECRET_MARK}hdr"),)
    assert (by_name["web"].load_balance, by_name["web"].call_timeout) == ("health-based", 5)
    assert settings[(web.pk, "search")] == ToolSettings(False, "Search the web", 2.5)
    assert settings[(web.pk, "fetch")] == ToolSettings(True, None, None)
    assert SECRET_MARK not in repr(servers)  # env, headers and URLs stay out of reprs
    assert calc.pk in {s.id for s in servers}


def test_masked_target_and_upstream_url_masking():
    web = http_server()
    assert web.masked_target == "https://mcp.example.com/mcp?api_key=*** (+1 replica URL)"
    assert (
        mask_upstream_url("https://u:pw@h/sse?key=abc&x=1") == "https://u:***@h/sse?key=***&x=***"
    )
    assert stdio_server(replicas=2).masked_target == "python calc.py (x2)"


def test_catalog_store_upserts_keeps_settings_and_marks_missing_tools():
    server = stdio_server()
    tool_catalog_store(
        server_id=server.pk,
        tools=[
            UpstreamTool("add", "Add numbers", {"type": "object"}),
            UpstreamTool("weird name!", "", {}),
        ],
    )
    tools = {t.upstream_name: t for t in Tool.objects.filter(server=server)}
    assert tools["add"].exposed_name == "calc__add" and tools["add"].available
    assert tools["weird name!"].exposed_name == "calc__weird_name_"
    assert all(t.enabled for t in tools.values())
    Tool.objects.filter(upstream_name="add").update(enabled=False, description_override="Sum")

    # A later listing: add changed its description, weird name is gone, mul is new.
    tool_catalog_store(
        server_id=server.pk,
        tools=[UpstreamTool("add", "Add two numbers", {}), UpstreamTool("mul", "Multiply", {})],
    )
    tools = {t.upstream_name: t for t in Tool.objects.filter(server=server)}
    assert set(tools) == {"add", "weird name!", "mul"}  # never deleted
    add = tools["add"]
    assert (add.enabled, add.description_override, add.description, add.available) == (
        False, "Sum", "Add two numbers", True,
    )  # fmt: skip
    assert not tools["weird name!"].available and tools["mul"].available
    tool_catalog_store(server_id=999999, tools=[UpstreamTool("x", "", {})])  # gone: no-op


def test_status_store_writes_masked_live_status():
    server = http_server()
    status = ServerStatus(
        server_id=server.pk,
        name="web",
        state="restarting",
        replicas=(
            ReplicaStatus(0, "https://mcp.example.com/mcp?api_key=***", "ready", latency_ms=3.5),
            ReplicaStatus(
                1, "x", "restarting", last_error=f"401 at http://h/?token={SECRET_MARK}", restarts=2
            ),
        ),  # fmt: skip
        tool_count=4,
        last_error=f"401 at http://h/?token={SECRET_MARK}",
    )
    mcp_server_status_store(status=status)
    server.refresh_from_db()
    assert server.state == "restarting" and server.status_updated_at is not None
    assert server.status["replicas"][1]["restarts"] == 2 and server.status["tool_count"] == 4
    assert SECRET_MARK not in str(server.status) + server.last_error


def _record(**fields) -> CallRecord:
    values = {
        "tool": "calc__add",
        "server_id": None,
        "upstream_tool": "add",
        "endpoint_id": None,
        "started_at": timezone.now(),
        "duration_ms": 2.5,
        "outcome": "ok",
    }
    values.update(fields)
    return CallRecord(**values)


def test_call_log_store_counts_usage_truncates_and_survives_deleted_rows(settings):
    settings.HUB_TOOL_LOG_MAX_CHARS = 100
    server = stdio_server()
    tool = server.tools.create(upstream_name="add", exposed_name="calc__add")
    endpoint = Endpoint.objects.create(name="e", url=secret_url())
    later = timezone.now() + timedelta(seconds=1)
    tool_calls_record(
        records=[
            _record(server_id=server.pk, endpoint_id=endpoint.pk, arguments={"a": "x" * 500},
                    result_text="y" * 500, replica=1, failovers=1),
            _record(server_id=server.pk, outcome="timeout", started_at=later,
                    error=f"no answer from http://h/?token={SECRET_MARK}"),
            _record(tool="ghost__x", server_id=None, upstream_tool=None, outcome="not_found"),
            _record(server_id=424242, endpoint_id=434343),  # rows deleted meanwhile
        ]
    )  # fmt: skip
    tool.refresh_from_db()
    assert tool.usage_count == 2 and tool.last_used_at == later
    assert tool.last_error.startswith("no answer") and tool.last_error_at == later
    calls = list(ToolCall.objects.order_by("id"))
    assert len(calls) == 4
    assert len(calls[0].arguments) == 100 and len(calls[0].result) == 100
    assert (calls[0].tool_ref_id, calls[0].endpoint_id, calls[0].failovers) == (
        tool.pk,
        endpoint.pk,
        1,
    )
    assert SECRET_MARK not in calls[1].error
    assert calls[3].server_id is None and calls[3].endpoint_id is None
    tail = tool_calls_tail(limit=2)
    assert [c["id"] for c in tail] == [calls[3].pk, calls[2].pk]
    after = tool_calls_tail(after=calls[1].pk)
    assert [c["id"] for c in after] == [calls[2].pk, calls[3].pk]
    assert [c["outcome"] for c in tool_calls_tail(outcome="timeout")] == ["timeout"]


def test_call_log_pruning_by_age_and_row_cap(settings):
    settings.HUB_TOOL_LOG_RETENTION_DAYS = 7
    settings.HUB_TOOL_LOG_MAX_ROWS = 5
    now = datetime(2026, 1, 10, tzinfo=UTC)
    ToolCall.objects.bulk_create(
        [ToolCall(at=now - timedelta(days=8), tool="old", outcome="ok") for _ in range(3)]
        + [ToolCall(at=now - timedelta(hours=i), tool=f"t{i}", outcome="ok") for i in range(8)]
    )
    assert tool_calls_prune(now=now) == 6
    kept = list(ToolCall.objects.order_by("-id").values_list("tool", flat=True))
    assert kept == ["t7", "t6", "t5", "t4", "t3"]  # the newest rows by id


def test_the_worker_prunes_the_call_log_at_most_once_a_minute(settings):
    settings.HUB_TOOL_LOG_MAX_ROWS = 100
    clock = [1000.0]
    writer = CallLogWriter(clock=lambda: clock[0])
    ToolCall.objects.bulk_create(
        [ToolCall(at=timezone.now() - timedelta(days=30), tool="old", outcome="ok")]
    )
    writer.write(records=[_record()])
    assert not ToolCall.objects.filter(tool="old").exists()  # pruned with the first store
    ToolCall.objects.create(at=timezone.now() - timedelta(days=30), tool="old", outcome="ok")
    clock[0] += PRUNE_INTERVAL - 1
    writer.write(records=[_record()])
    assert ToolCall.objects.filter(tool="old").exists()  # not again within the minute
    clock[0] += 1
    writer.write(records=[_record()])
    assert not ToolCall.objects.filter(tool="old").exists()  # and again once it has passed


def test_renaming_a_server_renames_its_tools():
    server = stdio_server()
    server.tools.create(upstream_name="add", exposed_name="calc__add")
    mcp_server_update(server_id=server.pk, data={"name": "math"})
    assert Tool.objects.get().exposed_name == "math__add"


def test_endpoint_configs_carry_reconnect_on_tools_change():
    from endpoints.lease import lease_round

    Endpoint.objects.create(name="e", url=secret_url(), reconnect_on_tools_change=True)
    held = lease_round(owner="w:1:a", ttl=30)
    configs, _ = pool_configs_for(owner="w:1:a", endpoint_ids=held.held)
    assert [c.reconnect_on_tools_change for c in configs] == [True]
