"""The pool's management commands against a running worker, over the real control bus
(Redis pub/sub in this suite): `endpoint_reconnect` redials, `endpoints_check` pings."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from endpoints.models import Endpoint
from tests.endpoints.conftest import open_to, secret_token, wait_until

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_reconnect_and_check_commands_reach_the_running_pool(peer_thread, start_worker):
    peer = peer_thread.peer()
    token = secret_token("commands")
    endpoint = Endpoint.objects.create(name="cmd", url=peer.url(token))
    start_worker(ttl=15, reconcile_interval=1)
    wait_until(lambda: open_to(peer, token), timeout=15, message="never connected")
    [first] = open_to(peer, token)

    said = run("endpoint_reconnect", "cmd")
    assert f"Reconnecting {endpoint.pk} cmd now (worker " in said
    wait_until(
        lambda: [c for c in open_to(peer, token) if c is not first],
        timeout=15,
        message="the endpoint was not redialled",
    )
    assert first not in open_to(peer, token)  # the old connection was dropped, not kept

    checked = run("endpoints_check", str(endpoint.pk))
    assert re.search(rf"^{endpoint.pk} cmd: \d+\.\d ms \(\S+\)$", checked, re.M), checked
