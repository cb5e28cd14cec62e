"""The call log cannot be flooded (issue 13, item 12).

One peer used to push tens of thousands of call-log rows a minute. Now, per
endpoint, tool and outcome, HUB_TOOL_LOG_RATE calls a minute get a row each
and the rest of the minute's calls are counted into one sampled row; the
tool's usage counter and the rows' counts still add up to every call.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from endpoints.models import Endpoint, ToolCall
from endpoints.upstreams.records import CallRecord
from endpoints.worker.upstream_reports import CallLogWriter
from tests.endpoints.conftest import secret_url
from tests.endpoints.upstream_helpers import stdio_server

pytestmark = [pytest.mark.requires_services("mysql"), pytest.mark.django_db]

RATE = 60
BATCH = 250  # calls per flush, as the worker writes them (about once a second)


@pytest.fixture
def calc(settings):
    settings.HUB_TOOL_LOG_RATE = RATE
    server = stdio_server()
    tool = server.tools.create(upstream_name="add", exposed_name="calc__add")
    endpoint = Endpoint.objects.create(name="flooder", url=secret_url())
    return server, tool, endpoint


def call(server, endpoint, at, **fields) -> CallRecord:
    values = {
        "tool": "calc__add",
        "server_id": server.pk,
        "upstream_tool": "add",
        "endpoint_id": endpoint.pk,
        "started_at": at,
        "duration_ms": 2.0,
        "outcome": "ok",
        "arguments": {"a": 1, "b": 2},
        "result_text": "3",
    }
    return CallRecord(**{**values, **fields})


def write_in_batches(writer: CallLogWriter, records: list[CallRecord]) -> None:
    for start in range(0, len(records), BATCH):
        writer.write(records=records[start : start + BATCH])


def calls_in_rows(rows) -> int:
    """Every call the rows stand for: 1 a row, or a sampled row's count."""
    total = 0
    for row in rows:
        arguments = json.loads(row.arguments)
        total += arguments["sampled"]["calls"] if "sampled" in arguments else 1
    return total


def test_a_flood_writes_at_most_the_rate_and_counts_every_call(calc):
    server, tool, endpoint = calc
    start = timezone.now() - timedelta(seconds=30)
    # 5,000 successful calls and 50 failures in 25 s, as one peer floods them.
    flood = [
        call(server, endpoint, start + timedelta(milliseconds=5 * i)) for i in range(5000)
    ] + [
        call(server, endpoint, start + timedelta(milliseconds=500 * i), outcome="tool_error",
             error="division by zero", result_text="")
        for i in range(50)
    ]  # fmt: skip
    flood.sort(key=lambda record: record.started_at)
    writer = CallLogWriter()
    write_in_batches(writer, flood)

    ok_rows = list(ToolCall.objects.filter(outcome="ok").order_by("id"))
    failures = ToolCall.objects.filter(outcome="tool_error")
    assert len(ok_rows) == RATE + 1  # the rate's rows and one sampled row
    assert failures.count() == 50  # failures have their own budget: none is lost
    sampled = [row for row in ok_rows if "sampled" in json.loads(row.arguments)]
    assert len(sampled) == 1
    assert json.loads(sampled[0].arguments)["sampled"]["calls"] == 5000 - RATE
    assert "counted here, not logged one by one" in sampled[0].result
    assert sampled[0].endpoint_id == endpoint.pk and sampled[0].tool_ref_id == tool.pk
    assert calls_in_rows(ToolCall.objects.all()) == 5050
    tool.refresh_from_db()
    assert tool.usage_count == 5050 and tool.last_error == "division by zero"

    # A minute later the budget is back; the next minute's excess gets a row of its own.
    later = start + timedelta(minutes=2)
    write_in_batches(
        writer, [call(server, endpoint, later + timedelta(milliseconds=i)) for i in range(100)]
    )
    assert ToolCall.objects.filter(outcome="ok").count() == 2 * RATE + 2
    assert calls_in_rows(ToolCall.objects.all()) == 5150
    tool.refresh_from_db()
    assert tool.usage_count == 5150


def test_inventing_a_tool_name_per_call_does_not_escape_the_rate(calc):
    server, tool, endpoint = calc
    start = timezone.now() - timedelta(seconds=10)
    flood = [
        call(server, endpoint, start + timedelta(milliseconds=i), tool=f"nope__{i}",
             server_id=None, upstream_tool=None, outcome="not_found", error="unknown tool")
        for i in range(2000)
    ]  # fmt: skip
    write_in_batches(CallLogWriter(), flood)
    assert ToolCall.objects.count() == RATE + 1
    sampled = ToolCall.objects.get(tool="(unknown tools)")
    assert json.loads(sampled.arguments)["sampled"]["calls"] == 2000 - RATE
    assert calls_in_rows(ToolCall.objects.all()) == 2000


def test_the_rest_api_shows_that_calls_were_sampled(calc, django_user_model):
    server, tool, endpoint = calc
    start = timezone.now() - timedelta(seconds=5)
    write_in_batches(
        CallLogWriter(),
        [call(server, endpoint, start + timedelta(milliseconds=i)) for i in range(RATE + 7)],
    )
    admin = django_user_model.objects.create_user(
        "ops", password="pw", is_staff=True, is_superuser=True
    )
    client = APIClient()
    client.force_login(admin)
    newest = client.get("/api/tools/calls", {"page_size": 1}).json()["results"][0]
    window = json.loads(newest["arguments"])["sampled"]
    assert window["calls"] == 7 and window["first"] <= window["last"]
    assert (
        newest["result"].startswith("7 calls from ") and "HUB_TOOL_LOG_RATE=60" in newest["result"]
    )
