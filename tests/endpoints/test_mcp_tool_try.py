"""A tool's "Try it" form (built from its input schema) and the server's tool count,
against a real pool worker running a real stdio upstream (tests/endpoints/upstream_servers.py).

Also without a worker: the form's fields from a schema, the refusals (viewer 403,
GET 405, unknown tool 404, bad JSON 400) and the honest "no worker" answer.
"""

from __future__ import annotations

import re
import sys

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from endpoints.admin.tool_try import ALL_ARGUMENTS, ToolTryForm
from endpoints.models import McpServer, Tool
from tests.access.identities import make_user
from tests.endpoints.conftest import wait_until
from tests.endpoints.upstream_helpers import http_server
from tests.services import REPO

TOOLS = "/admin/endpoints/tool/"
UPSTREAM = ["-m", "tests.endpoints.upstream_servers", "--transport", "stdio"]


def client_of(identity: str, suffix: str = "") -> Client:
    client = Client()
    client.force_login(make_user(identity, suffix=suffix))
    return client


def try_url(tool: Tool) -> str:
    return f"{TOOLS}{tool.pk}/try/"


def result_of(page: str) -> tuple[str, str]:
    """(the verdict, the text shown) of a Try it answer page."""
    verdict = re.search(r'id="tool-try-result"[^>]*>\s*<h2>(.*?)</h2>', page, re.S)
    output = re.search(r'<pre class="hub-pre" id="tool-try-output">(.*?)</pre>', page, re.S)
    assert verdict, page[-3000:]
    return verdict.group(1).strip(), output.group(1) if output else ""


# --- against a running worker ------------------------------------------------------------
@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_tool_count_and_try_it_through_a_running_pool(peer_thread, start_worker):
    server = McpServer.objects.create(
        name="calc", transport="stdio", command=sys.executable, args=UPSTREAM, cwd=str(REPO)
    )
    # Its timeout is the operator's before the first listing (the listing keeps it).
    Tool.objects.create(server=server, upstream_name="slow", exposed_name="calc__slow", timeout=1)
    start_worker(ttl=15, reconcile_interval=1)

    def counted() -> bool:
        server.refresh_from_db()
        listed = Tool.objects.filter(server=server, available=True).count()
        return listed >= 3 and (server.status or {}).get("tool_count") == listed

    wait_until(counted, timeout=30, message="the status never counted the listed tools")
    listed = Tool.objects.filter(server=server, available=True).count()
    operator = client_of("operator")
    page = operator.get(f"/admin/endpoints/mcpserver/{server.pk}/change/").content.decode()
    assert re.search(rf"<th>tools listed</th><td>{listed}</td>", page), page
    body = operator.get(f"/api/mcp-servers/{server.pk}").json()
    assert body["status"]["tool_count"] == listed == body["toolCount"]

    # The form of calc__add: two required integers.
    add = Tool.objects.get(exposed_name="calc__add")
    page = operator.get(f"{TOOLS}{add.pk}/change/").content.decode()
    form = re.search(
        r'<form method="post" action="[^"]+/try/" id="tool-try-form".*?</form>', page, re.S
    )
    assert form, page[-3000:]
    assert re.search(
        r'<label for="id_arg-0" class="required">a <span class="hub-required"', form.group(0)
    )
    assert re.search(r'<input type="number" name="arg-0"[^>]*required', form.group(0))
    assert 'name="csrfmiddlewaretoken"' in form.group(0)

    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(make_user("operator", suffix="2"))
    assert csrf.post(try_url(add), {"arg-0": "2", "arg-1": "3"}).status_code == 403  # no token

    answer = operator.post(try_url(add), {"arg-0": "2", "arg-1": "3"})
    assert answer.status_code == 200
    assert result_of(answer.content.decode()) == ("The tool answered", "5")

    echo = Tool.objects.get(exposed_name="calc__echo")
    answer = operator.post(try_url(echo), {"arg-0": "你好 <b>"})
    assert result_of(answer.content.decode()) == ("The tool answered", "你好 &lt;b&gt;")

    fail = Tool.objects.get(exposed_name="calc__fail")
    verdict, _ = result_of(operator.post(try_url(fail), {}).content.decode())
    assert verdict == "The tool answered with an error"

    slow = Tool.objects.get(exposed_name="calc__slow")
    verdict, _ = result_of(operator.post(try_url(slow), {"arg-0": "20"}).content.decode())
    assert verdict == "The call timed out"

    # Each call is in the admin's log (arguments not recorded), and in the call log.
    entries = LogEntry.objects.filter(change_message__contains="called (arguments not recorded)")
    assert entries.count() == 4
    assert "你好" not in " ".join(entries.values_list("change_message", flat=True))


# --- without a worker ----------------------------------------------------------------------
@pytest.mark.django_db
def test_without_a_worker_the_answer_says_so(settings):
    settings.HUB_POOL_CONTROL_TIMEOUT = 1
    tool = Tool.objects.create(
        server=http_server(), upstream_name="search", exposed_name="web__search"
    )
    answer = client_of("operator").post(try_url(tool), {ALL_ARGUMENTS: '{"q": "x"}'})
    assert answer.status_code == 200
    verdict, _ = result_of(answer.content.decode())
    assert verdict == "No pool worker ran the call"


@pytest.mark.django_db
def test_refusals_and_hostile_input():
    schema = {
        "type": "object",
        "properties": {"filters": {"type": "object"}, "ids": {"type": "array"}},
        "required": ["filters"],
    }
    tool = Tool.objects.create(
        server=http_server(), upstream_name="search", exposed_name="web__search",
        input_schema=schema,
    )  # fmt: skip
    viewer, operator = client_of("viewer"), client_of("operator")
    assert viewer.post(try_url(tool), {}).status_code == 403
    assert client_of("staff").post(try_url(tool), {}).status_code == 403
    anonymous = Client().post(try_url(tool), {})
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert operator.get(try_url(tool)).status_code == 405
    assert operator.post(f"{TOOLS}999999/try/", {}).status_code == 404
    assert operator.post(f"{TOOLS}nope/try/", {}).status_code == 404

    for filters, ids, says in [
        ("{bad", "", "not valid JSON"),
        ("[1]", "", "must be a JSON object"),
        ('{"a": 1}', '{"not": "a list"}', "must be a JSON array"),
        ("[" * 300 + "]" * 300, "", "nested deeper than"),
        ("", "", "This field is required."),
    ]:
        answer = operator.post(try_url(tool), {"arg-0": filters, "arg-1": ids})
        assert answer.status_code == 400
        page = answer.content.decode()
        assert says in page and 'id="tool-try-result"' not in page
    assert not LogEntry.objects.filter(change_message__contains="called").exists()


# --- the form from a schema ----------------------------------------------------------------
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The city <name>"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "ratio": {"type": "number"},
        "detailed": {"type": "boolean"},
        "strict": {"type": "boolean"},
        "where": {"type": "object"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "level": {"enum": [1, 2, 3]},
        "either": {"type": ["string", "null"]},
    },
    "required": ["city", "days", "strict"],
}


def test_the_form_has_a_field_of_each_kind_and_marks_the_required():
    form = ToolTryForm(SCHEMA)
    kinds = {form.names[name]: type(field).__name__ for name, field in form.fields.items()}
    assert kinds == {
        "city": "CharField",
        "unit": "TypedChoiceField",
        "days": "IntegerField",
        "ratio": "FloatField",
        "detailed": "TypedChoiceField",  # optional: unset, true or false
        "strict": "BooleanField",  # required: a checkbox
        "where": "JsonArgumentField",
        "tags": "JsonArgumentField",
        "level": "TypedChoiceField",
        "either": "JsonArgumentField",
    }
    required = {form.names[n] for n, f in form.fields.items() if f.required}
    assert required == {"city", "days"}  # a checkbox is never "required": unchecked is false
    assert form.fields["arg-0"].help_text == "The city <name>"  # the template escapes it


def test_the_form_gives_typed_arguments_and_leaves_out_the_empty_ones():
    data = {
        "arg-0": "Beijing", "arg-1": '"f"', "arg-2": "3", "arg-3": "0.5", "arg-4": "false",
        "arg-5": "on", "arg-6": '{"lat": 1}', "arg-7": '["a", "b"]', "arg-8": "2", "arg-9": "",
    }  # fmt: skip
    form = ToolTryForm(SCHEMA, data)
    assert form.is_valid(), form.errors
    assert form.arguments() == {
        "city": "Beijing",
        "unit": "f",
        "days": 3,
        "ratio": 0.5,
        "detailed": False,
        "strict": True,
        "where": {"lat": 1},
        "tags": ["a", "b"],
        "level": 2,
    }
    form = ToolTryForm(SCHEMA, {"arg-0": "x", "arg-2": "1"})
    assert form.is_valid(), form.errors
    assert form.arguments() == {"city": "x", "days": 1, "strict": False}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"arg-0": "x", "arg-2": "9"}, "arg-2"),  # over the maximum
        ({"arg-0": "x", "arg-2": "two"}, "arg-2"),
        ({"arg-0": "x", "arg-2": "1", "arg-1": '"k"'}, "arg-1"),  # not an enum value
        ({"arg-2": "1"}, "arg-0"),  # required
    ],
)
def test_the_form_refuses_what_the_schema_does_not_allow(data, field):
    form = ToolTryForm(SCHEMA, data)
    assert not form.is_valid() and field in form.errors


@pytest.mark.parametrize("schema", [{}, {"type": "object"}, {"properties": "nope"}, None, []])
def test_a_schema_without_properties_gets_one_json_box(schema):
    form = ToolTryForm(schema, {ALL_ARGUMENTS: '{"text": "hi"}'})
    assert list(form.fields) == [ALL_ARGUMENTS]
    assert form.is_valid() and form.arguments() == {"text": "hi"}
    empty = ToolTryForm(schema, {ALL_ARGUMENTS: ""})
    assert empty.is_valid() and empty.arguments() == {}
