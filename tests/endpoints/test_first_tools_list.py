"""The endpoint's first tools/list, with the hub and its upstream servers started together.

The xiaozhi broker lists tools once, right after `initialize` (docs/protocols.md),
and some peers ignore `notifications/tools/list_changed`: that one list must
already hold the upstream servers' tools. The worker holds it until every
server has done its first listing (or failed), for at most HUB_FIRST_TOOLS_WAIT
seconds. And the hub's own test tools are offered only with HUB_BUILTIN_TOOLS.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest

from endpoints.models import Endpoint
from tests.endpoints.conftest import secret_token
from tests.endpoints.peers import REFERENCE_TOOLS_LIST
from tests.endpoints.upstream_helpers import stdio_server
from tests.services import REPO, hub_env

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]

SLOW_START = 3.0  # seconds the slow upstream sleeps before it even starts its MCP server
SLOW_UPSTREAM = (
    f"import time; time.sleep({SLOW_START}); "
    "from tests.endpoints.upstream_servers import main; "
    "main(['--transport', 'stdio', '--name', 'calc'])"
)
SILENT_UPSTREAM = "import time; time.sleep(3600)"  # never answers `initialize`


def upstream(name: str, code: str):
    return stdio_server(name, command=sys.executable, args=["-c", code], cwd=str(REPO), env={})


async def list_once_after_initialize(peer) -> tuple[list[str], float]:
    """The REFERENCE sequence's one tools/list, sent as soon as the hub has initialized."""
    connection = await peer.wait_connection(timeout=30)
    started = time.monotonic()
    reply = await connection.request_raw(REFERENCE_TOOLS_LIST, 1, timeout=60)
    return [tool["name"] for tool in reply["result"]["tools"]], time.monotonic() - started


def first_list(peer_thread, start_worker, **servers: str) -> tuple[list[str], float]:
    peer = peer_thread.peer(mode="idle")  # initializes as the broker does, then waits
    for name, code in servers.items():
        upstream(name, code)
    Endpoint.objects.create(name="desk", url=peer.url(secret_token("first")))
    start_worker(ttl=15, reconcile_interval=1)  # the hub and its upstreams start together
    return peer_thread.run(list_once_after_initialize(peer), timeout=90)


def test_the_one_list_after_initialize_holds_a_slow_upstreams_tools(
    peer_thread, start_worker, caplog
):
    caplog.set_level(logging.INFO, logger="endpoints.upstreams")

    names, _ = first_list(peer_thread, start_worker, calc=SLOW_UPSTREAM)

    assert {"calc__add", "calc__echo", "calc__slow"} <= set(names), names
    waited = [r.getMessage() for r in caplog.records if "tools/list waited" in r.getMessage()]
    assert waited and "upstream servers: calc" in waited[0], waited
    assert "not done within" not in waited[0]


def test_a_server_that_never_lists_holds_the_list_no_longer_than_the_setting(
    peer_thread, start_worker, settings, caplog
):
    settings.HUB_FIRST_TOOLS_WAIT = 2
    caplog.set_level(logging.INFO, logger="endpoints.upstreams")

    names, took = first_list(peer_thread, start_worker, silent=SILENT_UPSTREAM)

    # Answered with what there is: the builtin tools, none of the silent server's.
    assert set(names) == {"hub__status", "hub__echo"}, names
    # The wait counts from the server's start, which came before the endpoint's list.
    assert took < settings.HUB_FIRST_TOOLS_WAIT + 1.5, took
    waited = [r.getMessage() for r in caplog.records if "tools/list waited" in r.getMessage()]
    assert waited and "not done within HUB_FIRST_TOOLS_WAIT=2 s: silent" in waited[0], waited


def test_builtin_tools_are_off_by_default_and_then_not_offered(peer_thread, start_worker, settings):
    env = hub_env()
    env.pop("HUB_BUILTIN_TOOLS")  # the test suite turns them on; production does not
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.HUB_BUILTIN_TOOLS, settings.HUB_FIRST_TOOLS_WAIT)",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert shown == ["False", "15"]

    settings.HUB_BUILTIN_TOOLS = False
    peer = peer_thread.peer(mode="idle")
    Endpoint.objects.create(name="desk", url=peer.url(secret_token("nobuiltin")))
    start_worker(ttl=15, reconcile_interval=1)

    async def list_and_echo(peer) -> tuple[dict, dict]:
        connection = await peer.wait_connection(timeout=30)
        listed = await connection.request_raw(REFERENCE_TOOLS_LIST, 1, timeout=30)
        echo = {"name": "hub__echo", "arguments": {"text": "hi"}}
        called = await connection.request("tools/call", echo, request_id=2, timeout=30)
        return listed, called

    listed, called = peer_thread.run(list_and_echo(peer), timeout=60)
    assert listed["result"]["tools"] == [], json.dumps(listed)
    assert called["error"]["code"] == -32601, called
