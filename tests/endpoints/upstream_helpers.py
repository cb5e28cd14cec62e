"""Helpers of the upstream-server tests (test_upstream_*.py): rows and control messages."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

from endpoints.models import McpServer
from tests.endpoints.conftest import SECRET_MARK


def stdio_server(name: str = "calc", **fields) -> McpServer:
    defaults = {"transport": "stdio", "command": "python", "args": ["calc.py"]}
    defaults["env"] = {"API_KEY": f"{SECRET_MARK}env"}
    defaults.update(fields)
    return McpServer.objects.create(name=name, **defaults)


def http_server(name: str = "web", **fields) -> McpServer:
    defaults = {
        "transport": "streamable-http",
        "url": f"https://mcp.example.com/mcp?api_key={SECRET_MARK}url",
        "headers": {"Authorization": f"Bearer {SECRET_MARK}hdr"},
        "replica_urls": [f"https://mcp2.example.com/mcp?key={SECRET_MARK}rep"],
    }
    defaults.update(fields)
    return McpServer.objects.create(name=name, **defaults)


@contextmanager
def control_messages():
    """Collect the pool control messages published on real Redis while the block runs."""
    from endpoints import control

    pubsub = control._redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(control.control_channel())
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    seen: list[dict] = []
    try:
        yield seen
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.1)
            if message is not None:
                seen.append(json.loads(message["data"]))
            elif seen:
                break
    finally:
        pubsub.close()
