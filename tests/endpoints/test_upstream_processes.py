"""Upstream MCP servers end to end in real processes.

In `runhub`: a stdio upstream added over REST is listed and called by a xiaozhi
peer (the SDK client over WebSocket) through the hub; a tool disabled over REST
disappears from the peer's list after a `notifications/tools/list_changed`;
test calls and the call log work over REST. In a Celery worker on MariaDB and
Redis: the tool commands reach the worker's upstreams from other processes."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest
import redis
from mcp.shared.exceptions import MCPError

from endpoints.models import McpServer, Tool, ToolCall
from tests.endpoints.conftest import SECRET_MARK, secret_token, wait_until
from tests.endpoints.test_pool_processes import connected, runhub_with_api
from tests.services import (
    REDIS_URL,
    REPO,
    bin_path,
    hub_database_url,
    hub_env,
    start,
    stop,
)

UPSTREAM = ["-m", "tests.endpoints.upstream_servers", "--transport", "stdio"]


def tool_names(peer_thread, connection) -> set[str]:
    return {tool.name for tool in peer_thread.run(connection.list_tools()).tools}


def list_changed_count(connection) -> int:
    return connection.notifications.count("notifications/tools/list_changed")


def test_runhub_serves_upstream_tools_and_applies_tool_changes_live(
    tmp_path, process_log_dir, peer_thread
):
    peer = peer_thread.peer()
    token = secret_token("upstream")
    with runhub_with_api(tmp_path, process_log_dir / "runhub-upstream.log") as api:
        code, body = api("POST", "/api/endpoints", {"name": "desk", "url": peer.url(token)})
        assert code == 201, body
        endpoint_id = body["id"]
        wait_until(lambda: connected(peer, token), timeout=10, message="hub never connected")
        connection = next(c for c in peer.open_connections() if token in c.path)
        assert tool_names(peer_thread, connection) == {"hub__status", "hub__echo"}

        before = list_changed_count(connection)
        code, server = api(
            "POST",
            "/api/mcp-servers",
            {
                "name": "calc",
                "transport": "stdio",
                "command": sys.executable,
                "args": UPSTREAM,
                "cwd": str(REPO),
                "env": {"API_KEY": f"{SECRET_MARK}-env"},
            },
        )
        assert code == 201, server
        assert SECRET_MARK not in json.dumps(server)
        wait_until(
            lambda: list_changed_count(connection) > before,
            timeout=20,
            message="the peer was never told the tool list changed",
        )
        names = tool_names(peer_thread, connection)
        assert {"calc__add", "calc__echo", "calc__slow"} <= names, names

        status = peer_thread.run(connection.call_tool("hub__status", {}))
        upstreams = json.loads(status.content[0].text)["upstreamServers"]
        calc_tools = len(names) - 2  # all but hub__status and hub__echo
        assert upstreams == [{"name": "calc", "state": "ready", "tools": calc_tools}]

        result = peer_thread.run(connection.call_tool("calc__add", {"a": 2, "b": 40}))
        assert result.is_error is False and "42" in result.content[0].text

        # Disable a tool over REST: the peer is notified and no longer sees it.
        wait_until(
            lambda: any(t["name"] == "calc__add" for t in api("GET", "/api/tools")[1]["results"]),
            timeout=10,
            message="the tool catalog never reached the database",
        )
        tools = api("GET", "/api/tools")[1]["results"]
        add = next(t for t in tools if t["name"] == "calc__add")
        before = list_changed_count(connection)
        code, body = api("PATCH", f"/api/tools/{add['id']}", {"enabled": False})
        assert code == 200, body
        wait_until(lambda: list_changed_count(connection) > before, timeout=10)
        assert "calc__add" not in tool_names(peer_thread, connection)
        with pytest.raises(MCPError) as refused:
            peer_thread.run(connection.call_tool("calc__add", {"a": 1, "b": 1}))
        assert refused.value.error.code == -32601

        # A test call over REST, answered as an endpoint's tools/call is.
        code, body = api(
            "POST", "/api/tools/call", {"name": "calc__echo", "arguments": {"text": "你好"}}
        )
        assert code == 200, body
        assert body["result"]["content"][0]["text"] == "你好", body

        # The log has the peer's calls (with its endpoint) and the test call.
        def logged() -> list[dict]:
            return api("GET", "/api/tools/calls?page_size=20")[1]["results"]

        # The worker writes the log in batches (about once a second): wait for all three.
        expected = {("calc__add", "ok"), ("calc__add", "not_found"), ("calc__echo", "ok")}
        wait_until(
            lambda: expected <= {(e["tool"], e["outcome"]) for e in logged()},
            timeout=10,
            message="calls never logged",
        )
        entries = logged()
        peer_call = next(e for e in entries if e["tool"] == "calc__add" and e["outcome"] == "ok")
        assert peer_call["endpointId"] == endpoint_id
        code, tools = api("GET", "/api/tools?server=calc")
        add = next(t for t in tools["results"] if t["name"] == "calc__add")
        assert add["usageCount"] == 1 and add["lastUsedAt"], add  # the refused call is not a use
    log = (process_log_dir / "runhub-upstream.log").read_text()
    assert SECRET_MARK not in log


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_celery_worker_serves_upstreams_to_the_tool_commands_over_redis(process_log_dir):
    """The production shape: the pool in a Celery worker, commands in other processes,
    control over Redis pub/sub to ONE worker, the catalog and the log through MariaDB."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    server = McpServer.objects.create(
        name="calc",
        transport="stdio",
        command=sys.executable,
        args=UPSTREAM,
        cwd=str(REPO),
        env={"API_KEY": f"{SECRET_MARK}-env"},
    )
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_POOL_RECONCILE_INTERVAL="60",  # changes must arrive as control messages
    )
    assert "no endpoint pool worker" in manage(env, "tool_call", "calc__add").stderr
    worker = start(
        [bin_path("celery"), "-A", "xiaozhi_hub", "worker", "--concurrency", "1", "-n", "u1@%h"],
        env,
        process_log_dir / "upstream-worker.log",
    )
    try:
        wait_until(
            lambda: Tool.objects.filter(server=server, upstream_name="add").exists(),
            timeout=40,
            interval=0.2,
            message="the worker never stored the upstream's tools",
        )
        called = manage(env, "tool_call", "calc__add", "--args", '{"a": 20, "b": 22}')
        assert called.returncode == 0, called.stderr
        assert json.loads(called.stdout)["content"][0]["text"] == "42"

        assert manage(env, "tool_disable", "calc__add").returncode == 0
        refused = manage(env, "tool_call", "calc__add", "--args", '{"a": 1, "b": 1}')
        assert refused.returncode != 0 and "-32601" in refused.stderr, refused

        wait_until(
            lambda: ToolCall.objects.filter(tool="calc__add").count() == 2,
            timeout=10,
            message="the calls were never logged",
        )
        assert {c.outcome for c in ToolCall.objects.filter(tool="calc__add")} == {
            "ok",
            "not_found",
        }
        log = manage(env, "tool_calls", "--limit", "5")
        assert "calc__add" in log.stdout and "not_found" in log.stdout, log.stdout
        server.refresh_from_db()
        assert server.state == "ready" and SECRET_MARK not in json.dumps(server.status)
        child = server.status["replicas"][0]["pid"]
        assert psutil.pid_exists(child)
    finally:
        took, clean = stop(worker, timeout=20)
    assert clean, f"the worker did not stop cleanly ({took:.1f} s)"
    assert not psutil.pid_exists(child), "the stdio upstream outlived the worker"
    assert SECRET_MARK not in (process_log_dir / "upstream-worker.log").read_text()
