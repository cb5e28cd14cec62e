"""MCP server/tool commands, and xiaozhi.config.json import of servers, export, round trip."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError

from endpoints.models import Endpoint, McpServer, PoolOptions, Tool
from tests.endpoints.command_output import run, section
from tests.endpoints.conftest import SECRET_MARK, secret_url
from tests.endpoints.upstream_helpers import http_server, stdio_server

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "xiaozhi.config.json"


def real_shaped_config(tmp_path, *, single_endpoint: bool = False) -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace("ENDPOINT_1", secret_url(tag="1", agentId=101))
    text = text.replace("ENDPOINT_2", secret_url(port=9000, tag="2", agentId=102))
    data = json.loads(text)
    if single_endpoint:
        data["mcpEndpoint"] = data["mcpEndpoint"][1]
    path = tmp_path / "xiaozhi.config.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def tools():
    calc = stdio_server()
    web = http_server()
    calc.tools.create(upstream_name="add", exposed_name="calc__add", available=True,
                      usage_count=7, last_error="timeout")  # fmt: skip
    calc.tools.create(upstream_name="old", exposed_name="calc__old", available=False, enabled=False)
    web.tools.create(upstream_name="search", exposed_name="web__search", available=True,
                     enabled=False)  # fmt: skip
    return calc, web


def test_mcp_servers_table(tools):
    out, _ = run("mcp_servers")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "name", "transport", "enabled", "state", "tools", "target",
                                "last", "error"]  # fmt: skip
    calc = next(line for line in lines if " calc " in line)
    assert "stdio" in calc and "1/2" in calc and "python calc.py" in calc
    web = next(line for line in lines if " web " in line)
    assert "0/1" in web and "https://mcp.example.com/mcp?api_key=***" in web
    assert SECRET_MARK not in out


def test_tools_list_enable_disable_describe(tools):
    out, _ = run("tools_list")
    assert "calc__add" in out and "calc__old" not in out and "web__search" not in out
    out, _ = run("tools_list", "--all", "--server", "calc")
    assert "calc__old" in out and "web__search" not in out
    row = next(line for line in out.splitlines() if "calc__add" in line).split()
    assert row[:4] == ["calc__add", "yes", "yes", "7"] and "timeout" in row

    out, _ = run("tool_enable", "web__search")
    assert (
        "Enabled 1 tool(s): web__search" in out and Tool.objects.get(upstream_name="search").enabled
    )
    out, _ = run("tool_disable", "web__search", "calc__add")
    assert "Disabled 2 tool(s)" in out
    assert not Tool.objects.filter(enabled=True, available=True).exists()
    with pytest.raises(CommandError, match=r"no tool named nope__x .*; nothing was changed"):
        run("tool_enable", "calc__add", "nope__x")
    assert not Tool.objects.get(upstream_name="add").enabled

    run("tool_describe", "calc__add", "Adds two numbers")
    assert Tool.objects.get(upstream_name="add").description_override == "Adds two numbers"
    out, _ = run("tool_describe", "calc__add", "")
    assert "cleared" in out and Tool.objects.get(upstream_name="add").description_override == ""
    with pytest.raises(CommandError, match="no MCP server"):
        run("tools_list", "--server", "nope")


def test_tool_call_without_a_pool_and_bad_arguments(tools):
    with pytest.raises(CommandError, match="running"):
        run("tool_call", "calc__add", "--args", '{"a": 1}')
    with pytest.raises(CommandError, match="not valid JSON"):
        run("tool_call", "calc__add", "--args", "{a")
    with pytest.raises(CommandError, match="JSON object"):
        run("tool_call", "calc__add", "--args", "[1]")


def test_tool_calls_tail(tools):
    from endpoints.models import ToolCall

    ToolCall.objects.create(tool="calc__add", outcome="ok", duration_ms=1.5)
    ToolCall.objects.create(tool="calc__add", outcome="timeout", duration_ms=30000, error="slow")
    out, _ = run("tool_calls", "--limit", "5")
    lines = out.splitlines()
    assert len(lines) == 2 and "calc__add  ok  1.5 ms" in lines[0]
    assert "timeout" in lines[1] and "slow" in lines[1]


def test_import_of_a_real_shaped_config(tmp_path):
    path = real_shaped_config(tmp_path)
    out, err = run("import_xiaozhi_config", str(path))
    assert "created 2: agent-101, agent-102" in out
    assert "warning: mcpEndpoint[0]: skipped, it is still the template placeholder" in section(
        out, "mcpEndpoint"
    )
    assert section(out, "mcpServers")[0].startswith("imported: created 7:")
    assert "imported: tool settings applied: 6" in section(out, "mcpServerConfig")
    assert section(out, "webUI") == ["ignored: the hub has its own web console (runhub serves it)"]
    assert SECRET_MARK not in out + err
    servers = {s.name: s for s in McpServer.objects.all()}
    assert {n: s.transport for n, s in servers.items()} == {
        "calculator": "stdio",
        "datetime": "stdio",
        "amap-maps": "sse",
        "zhipu-web-search": "streamable-http",
        "modelscope-fetch": "sse",  # no type: the URL's path ends in /sse
        "notion": "streamable-http",  # "http"
        "weather": "streamable-http",  # no type, not /sse
    }
    assert servers["calculator"].args == ["./mcpServers/calculator.js"]
    assert servers["datetime"].env["DATETIME_API_KEY"] == f"{SECRET_MARK}env"
    assert servers["zhipu-web-search"].headers == {"Authorization": f"Bearer {SECRET_MARK}zhipu"}
    flags = {t.exposed_name: (t.enabled, t.available) for t in Tool.objects.all()}
    assert flags["datetime__get_current_time"] == (True, False)  # not listed yet
    assert flags["datetime__get_current_date"] == (False, False)
    assert flags["amap-maps__maps_geo"] == (False, False)
    assert Tool.objects.get(exposed_name="datetime__get_current_time").description == "获取当前时间"

    # Again: nothing new, nothing changed.
    out, _ = run("import_xiaozhi_config", str(path))
    assert section(out, "mcpServers")[0].startswith("imported: unchanged 7:")
    assert "imported: unchanged 2: agent-101, agent-102" in section(out, "mcpEndpoint")
    assert McpServer.objects.count() == 7 and Tool.objects.count() == 6


def test_import_accepts_a_single_endpoint_string(tmp_path):
    out, _ = run("import_xiaozhi_config", str(real_shaped_config(tmp_path, single_endpoint=True)))
    assert "created 1: agent-101" in out and McpServer.objects.count() == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["mcpServers"]["amap-maps"].update(url=f"ws://h/sse?key={SECRET_MARK}"),
         "mcpServers.amap-maps.url: not an http:// or https:// URL"),
        (lambda d: d["mcpServers"]["calculator"].update(args="calc.js"),
         "mcpServers.calculator.args: must be an array of strings"),
        (lambda d: d["mcpServers"]["datetime"]["env"].update(TZ=["x"]),
         "mcpServers.datetime.env.TZ: must be a string"),
        (lambda d: d["mcpServers"].update({"a__b": {"command": "x"}}), "mcpServers.a__b: "),
        (lambda d: d["mcpServers"].update(bad={"type": "ws", "url": "https://h"}),
         "mcpServers.bad.type: must be stdio, sse, streamable-http or http"),
        (lambda d: d["mcpServers"].update(empty={}),
         "mcpServers.empty: needs a command (stdio) or a url"),
        (lambda d: d["mcpServerConfig"]["datetime"]["tools"]["format_datetime"].update(
            enable="no"), "mcpServerConfig.datetime.tools.format_datetime.enable: must be true"),
        (lambda d: d.update(mcpServers=[]), "mcpServers: must be an object"),
    ],
)  # fmt: skip
def test_a_broken_config_names_the_path_and_imports_nothing(tmp_path, change, message):
    path = real_shaped_config(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        run("import_xiaozhi_config", str(path))
    assert message in str(caught.value) and "nothing was imported" in str(caught.value)
    assert SECRET_MARK not in str(caught.value)
    assert not Endpoint.objects.exists() and not McpServer.objects.exists()
    assert not Tool.objects.exists()


def test_a_server_the_database_refuses_rolls_back_everything(tmp_path):
    path = real_shaped_config(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["mcpServers"]["zzz"] = {"command": "x" * 600}  # longer than the column allows
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CommandError, match=r"mcpServers\.zzz\.command: .*nothing was imported"):
        run("import_xiaozhi_config", str(path))
    assert not Endpoint.objects.exists() and not McpServer.objects.exists()


def test_export_with_and_without_secrets_and_the_round_trip(tmp_path):
    run("import_xiaozhi_config", str(real_shaped_config(tmp_path)))
    Tool.objects.filter(exposed_name="calculator__calculator").update(description_override="Maths")
    masked_out, err = run("export_xiaozhi_config")
    assert "secrets are masked" in err and SECRET_MARK not in masked_out
    masked = json.loads(masked_out)
    assert masked["mcpServers"]["datetime"]["env"] == {"TZ": "***", "DATETIME_API_KEY": "***"}
    assert masked["mcpServers"]["amap-maps"] == {
        "type": "sse", "url": "https://mcp.amap.com/sse?key=***", "headers": {},
    }  # fmt: skip
    assert all("token=***" in url for url in masked["mcpEndpoint"])
    calc_tools = masked["mcpServerConfig"]["calculator"]["tools"]
    assert calc_tools["calculator"] == {"description": "Maths", "enable": True}
    assert masked["connectionOptions"]["healthCheckInterval"] == 30000

    target = tmp_path / "export.json"
    _, err = run("export_xiaozhi_config", "--include-secrets", "--output", str(target))
    assert "contains secrets" in err and (target.stat().st_mode & 0o777) == 0o600
    full = json.loads(target.read_text(encoding="utf-8"))
    assert full["mcpServers"]["datetime"]["env"]["DATETIME_API_KEY"] == f"{SECRET_MARK}env"

    def snapshot():
        return (
            sorted((e.name, e.url, e.enabled) for e in Endpoint.objects.all()),
            sorted(
                (s.name, s.transport, s.command, s.args, s.env, s.url, s.headers)
                for s in McpServer.objects.all()
            ),  # fmt: skip
            sorted(
                (t.exposed_name, t.enabled, t.effective_description) for t in Tool.objects.all()
            ),  # fmt: skip
            PoolOptions.load().health_check_interval,
        )

    before = snapshot()
    # The full export into an empty hub gives the same configuration.
    Endpoint.objects.all().delete()
    McpServer.objects.all().delete()
    run("import_xiaozhi_config", str(target))
    assert snapshot() == before
    # The masked export imported here keeps every stored secret.
    masked_path = tmp_path / "masked.json"
    masked_path.write_text(masked_out, encoding="utf-8")
    out, err = run("import_xiaozhi_config", str(masked_path))
    assert snapshot() == before
    assert section(out, "mcpServers")[0].startswith("imported: unchanged 7:")
    assert SECRET_MARK not in out + err
