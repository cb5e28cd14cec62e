"""xiaozhi-client's configuration as it writes it (JSON5, JSONC), every section of it:
the report, connection, ModelScope, platforms, custom tools, discovery, round trip."""

import json
import re
from pathlib import Path

import json5
import pytest
from django.core.management import CommandError
from django.db import connection
from django.test import override_settings

from endpoints.config_file import config_search_paths, find_config_file
from endpoints.custom_tool_shape import custom_tool_to_client
from endpoints.models import CustomTool, Endpoint, McpServer, Platform, PoolOptions, Tool
from tests.endpoints.command_output import run, section
from tests.endpoints.conftest import SECRET_MARK, secret_url

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "xiaozhi.config.json5"


def write(tmp_path, text: str, name: str = "xiaozhi.config.json5") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def json5_config(tmp_path) -> str:
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace("ENDPOINT_1", secret_url(tag="1", agentId=101))
    text = text.replace("ENDPOINT_2", secret_url(port=9000, tag="2", agentId=102))
    return write(tmp_path, text)


def test_a_json5_file_imports_and_the_report_names_every_section(tmp_path):
    out, err = run("import_xiaozhi_config", json5_config(tmp_path))
    assert SECRET_MARK not in out + err
    for name in ("mcpEndpoint", "mcpServers", "mcpServerConfig", "connection", "modelscope",
                 "webUI", "toolCallLog", "platforms", "customMCP", "futureFeature"):  # fmt: skip
        assert section(out, name), f"no {name} section in:\n{out}"
    assert "imported: created 2: agent-101, agent-102" in section(out, "mcpEndpoint")
    servers = section(out, "mcpServers")
    assert "imported: created 4: calculator, modelscope-fetch, modelscope-own, weather" in servers
    assert "mapped: mcpServers.weather.apiKey -> its Authorization: Bearer header" in servers
    assert "ignored: mcpServers.weather.cwd: not a key the hub knows" in servers
    assert section(out, "webUI") == ["ignored: the hub has its own web console (runhub serves it)"]
    assert section(out, "toolCallLog")[0].startswith("ignored: the hub keeps its own tool call log")
    assert section(out, "futureFeature") == ["ignored: not a key the hub knows"]
    assert "imported: created 1: coze" in section(out, "platforms")
    custom = section(out, "customMCP")
    assert ("imported: created 6: weather_http, coze_workflow, calc_alias, weather_then_calc, "
            "say_hello, js_function") in custom  # fmt: skip
    assert ("warning: customMCP.tools[5]: imported disabled: a JavaScript function cannot run "
            "in the hub") in custom  # fmt: skip
    assert "ignored: customMCP.tools[0].stats: the hub counts the tool's calls itself" in custom
    assert "imported: tool settings applied: 1" in section(out, "mcpServerConfig")

    assert {t.name: (t.kind, t.enabled) for t in CustomTool.objects.all()} == {
        "weather_http": ("http", True),
        "coze_workflow": ("proxy", True),
        "calc_alias": ("mcp", True),
        "weather_then_calc": ("chain", True),
        "say_hello": ("script", True),
        "js_function": ("function", False),
    }
    http = CustomTool.objects.get(name="weather_http")
    assert http.timeout == 5.0 and http.handler["auth"]["token"] == f"{SECRET_MARK}http"
    assert http.input_schema["required"] == ["city"]
    assert "cannot run" in CustomTool.objects.get(name="js_function").disabled_reason
    assert Tool.objects.get(upstream_name="calculator").description == "计算器"

    # Again: nothing new, nothing changed.
    out, _ = run("import_xiaozhi_config", json5_config(tmp_path))
    assert "imported: unchanged 4: calculator, modelscope-fetch, modelscope-own, weather" in (
        section(out, "mcpServers")
    )
    assert any(line.startswith("imported: unchanged 6:") for line in section(out, "customMCP"))
    assert "imported: unchanged 1: coze" in section(out, "platforms")


def test_a_jsonc_file_with_comments_and_trailing_commas(tmp_path):
    text = (
        "{\n"
        "  // the endpoint\n"
        f'  "mcpEndpoint": "{secret_url(agentId=7)}", /* one string */\n'
        '  "mcpServers": {\n'
        '    "calc": {"command": "node", "args": ["calc.js",],},\n'
        "  },\n"
        '  "mcpServerConfig": {},\n'
        "}\n"
    )
    out, _ = run("import_xiaozhi_config", write(tmp_path, text, "xiaozhi.config.jsonc"))
    assert "imported: created 1: agent-7" in section(out, "mcpEndpoint")
    assert McpServer.objects.get(name="calc").args == ["calc.js"]
    assert section(out, "mcpServerConfig") == ["imported: nothing to change"]


def test_connection_maps_to_the_pool_options(tmp_path):
    out, _ = run("import_xiaozhi_config", json5_config(tmp_path))
    options = PoolOptions.load()
    assert (options.health_check_interval, options.connection_timeout,
            options.reconnect_interval) == (20.0, 8.0, 3.0)  # fmt: skip
    lines = section(out, "connection")
    assert "mapped: heartbeatInterval 20000 ms -> the pool option healthCheckInterval (20 s)" in (
        lines
    )
    assert "mapped: heartbeatTimeout 8000 ms -> the pool option connectionTimeout (8 s)" in lines
    assert any(line.startswith("imported: connection options updated:") for line in lines)

    # connectionOptions, the hub's own key, is more precise: it wins, and the report says so.
    text = json.dumps({
        "mcpEndpoint": [],
        "connection": {"heartbeatInterval": 40000, "keepAlive": True},
        "connectionOptions": {"healthCheckInterval": 50000},
    })  # fmt: skip
    out, _ = run("import_xiaozhi_config", write(tmp_path, text, "xiaozhi.config.json"))
    assert PoolOptions.load().health_check_interval == 50.0
    lines = section(out, "connection")
    assert ("ignored: connection.heartbeatInterval: connectionOptions.healthCheckInterval is "
            "given too and is used") in lines  # fmt: skip
    assert "ignored: connection.keepAlive: not a key the hub knows" in lines


@pytest.mark.parametrize(
    ("connection_block", "message"),
    [
        ({"heartbeatInterval": 500},
         "connection.heartbeatInterval: must be a number of milliseconds from 1000 to 3600000"),
        ({"heartbeatTimeout": 600000},
         "connection.heartbeatTimeout: must be a number of milliseconds from 500 to 300000"),
        ({"reconnectInterval": "5s"}, "connection.reconnectInterval: must be a number"),
        ([], "connection: must be an object"),
    ],
)  # fmt: skip
def test_connection_values_out_of_bounds_import_nothing(tmp_path, connection_block, message):
    text = json.dumps({"mcpEndpoint": secret_url(), "connection": connection_block})
    with pytest.raises(CommandError) as caught:
        run("import_xiaozhi_config", write(tmp_path, text))
    assert message in str(caught.value) and "nothing was imported" in str(caught.value)
    assert not Endpoint.objects.exists() and PoolOptions.load().health_check_interval == 30.0


BROKEN = """{
  // a comment
  mcpEndpoint: ['ENDPOINT'],
  mcpServers: {
    calc: {command: 'node' args: ['calc.js']},
  },
}
"""


def test_a_broken_json5_file_names_line_and_column_and_imports_nothing(tmp_path):
    text = BROKEN.replace("ENDPOINT", secret_url())
    with pytest.raises(CommandError) as caught:
        run("import_xiaozhi_config", write(tmp_path, text))
    message = str(caught.value)
    assert "line 5 column 28: not valid JSON5 (unexpected character)" in message
    assert "nothing was imported" in message and SECRET_MARK not in message
    assert not Endpoint.objects.exists() and not McpServer.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON5: the file is empty"),
        ("{mcpEndpoint: [", "line 1 column 16: not valid JSON5 (unexpected end of input)"),
        ("[" * 40 + "]" * 40, "nested deeper than 32 levels"),
        # brackets in strings and comments do not nest
        ("{a: '" + "[" * 40 + "', /* " + "{" * 40 + " */ mcpEndpoint: []}", None),
        ("{mcpEndpoint: [], connectionOptions: {jitter: true, x: Infinity}}",
         "connectionOptions.x: not a finite number"),
        ("{mcpEndpoint: [], platforms: {coze: {token: '\\ud800'}}}",
         "platforms.coze.token: holds a lone surrogate"),
    ],
)  # fmt: skip
def test_input_limits_and_syntax_errors(tmp_path, text, message):
    if message is None:
        run("import_xiaozhi_config", write(tmp_path, text))
        return
    with pytest.raises(CommandError, match=re.escape(message)):
        run("import_xiaozhi_config", write(tmp_path, text))


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_a_file_over_the_size_limit_is_refused(tmp_path):
    with pytest.raises(CommandError, match="is larger than 100 bytes"):
        run("import_xiaozhi_config", write(tmp_path, json.dumps({"mcpEndpoint": ["x" * 200]})))


def test_only_plain_json_may_be_larger_than_the_json5_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("endpoints.config_file.MAX_JSON5_BYTES", 100)
    plain = {"mcpEndpoint": [], "webUI": {"note": "x" * 200}}
    out, _ = run("import_xiaozhi_config", write(tmp_path, json.dumps(plain)))
    assert section(out, "webUI")
    with pytest.raises(CommandError, match="not plain JSON, and larger than the 100 bytes read"):
        run("import_xiaozhi_config", write(tmp_path, f"{{webUI: '{'x' * 200}'}}"))


def test_discovery_follows_xiaozhi_clients_order(tmp_path, monkeypatch):
    cwd, home, env_dir = tmp_path / "cwd", tmp_path / "home", tmp_path / "env"
    for folder in (cwd, home / ".xiaozhi-client", home / ".xiaozhi", env_dir):
        folder.mkdir(parents=True)
    kwargs = {"cwd": cwd, "home": home, "environ": {"XIAOZHI_CONFIG_DIR": str(env_dir)}}
    paths = config_search_paths(**kwargs)
    assert [str(p.relative_to(tmp_path)) for p in paths] == [
        "env/xiaozhi.config.json5", "env/xiaozhi.config.jsonc", "env/xiaozhi.config.json",
        "cwd/xiaozhi.config.json5", "cwd/xiaozhi.config.jsonc", "cwd/xiaozhi.config.json",
        "home/.xiaozhi-client/xiaozhi.config.json5", "home/.xiaozhi-client/xiaozhi.config.jsonc",
        "home/.xiaozhi-client/xiaozhi.config.json", "home/.xiaozhi/config.json",
    ]  # fmt: skip
    assert find_config_file(**kwargs) is None
    found = []
    for path in reversed(paths):  # each more preferred file, once it exists, wins
        path.write_text("{}", encoding="utf-8")
        found.append(find_config_file(**kwargs))
    assert found == list(reversed(paths))

    # The command without a path reads the file xiaozhi-client would read.
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XIAOZHI_CONFIG_DIR", raising=False)
    (cwd / "xiaozhi.config.json5").write_text(
        f"{{mcpEndpoint: '{secret_url(agentId=5)}', // found\n}}", encoding="utf-8"
    )
    out, _ = run("import_xiaozhi_config")
    assert f"Reading {cwd / 'xiaozhi.config.json5'}" in out and Endpoint.objects.count() == 1
    for path in cwd.iterdir():
        path.unlink()
    for path in (home / ".xiaozhi-client").iterdir():
        path.unlink()
    (home / ".xiaozhi" / "config.json").unlink()
    with pytest.raises(CommandError, match="no configuration file found; looked for"):
        run("import_xiaozhi_config")


def test_modelscope_api_key_becomes_the_bearer_header_of_modelscope_servers(tmp_path):
    data = {
        "mcpEndpoint": [],
        "modelscope": {"apiKey": f"{SECRET_MARK}ms"},
        "mcpServers": {
            "fetch": {"url": "https://mcp.api-inference.modelscope.net/1/sse"},
            "http": {"type": "http", "url": "https://modelscope.cn/mcp/2"},
            "own": {"url": "https://x.modelscope.cn/sse",
                    "headers": {"authorization": f"Bearer {SECRET_MARK}own"}},
            "lookalike": {"url": "https://evilmodelscope.net/sse"},
            "other": {"url": "https://example.com/modelscope.net/sse"},
        },
    }  # fmt: skip
    out, err = run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))
    headers = {s.name: s.headers for s in McpServer.objects.all()}
    assert headers["fetch"] == {"Authorization": f"Bearer {SECRET_MARK}ms"}
    assert headers["http"] == {"Authorization": f"Bearer {SECRET_MARK}ms"}
    assert headers["own"] == {"authorization": f"Bearer {SECRET_MARK}own"}
    assert headers["lookalike"] == headers["other"] == {}
    lines = section(out, "modelscope")
    assert "mapped: apiKey -> the Authorization: Bearer header of mcpServers.fetch" in lines
    assert "ignored: mcpServers.own has an Authorization header of its own, which is used" in lines
    assert SECRET_MARK not in out + err

    # Without the key, a ModelScope server without a header is pointed out.
    del data["modelscope"], data["mcpServers"]["own"]
    data["mcpServers"]["fetch2"] = {"url": "https://mcp.api-inference.modelscope.net/3/sse"}
    out, _ = run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))
    assert (
        "warning: mcpServers.fetch2 is hosted on ModelScope and has no Authorization header: "
        "set modelscope.apiKey or the server's headers"
    ) in section(out, "modelscope")


def test_export_writes_modelscope_when_every_modelscope_server_shares_one_key(tmp_path):
    data = {
        "mcpEndpoint": [],
        "modelscope": {"apiKey": f"{SECRET_MARK}ms"},
        "mcpServers": {
            "a": {"url": "https://mcp.api-inference.modelscope.net/1/sse"},
            "b": {"url": "https://mcp.api-inference.modelscope.net/2/sse"},
        },
    }
    run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))
    masked = json.loads(run("export_xiaozhi_config")[0])
    assert masked["modelscope"] == {"apiKey": "***"}
    full = json.loads(run("export_xiaozhi_config", "--include-secrets")[0])
    assert full["modelscope"] == {"apiKey": f"{SECRET_MARK}ms"}
    McpServer.objects.filter(name="b").update(headers={"Authorization": "Bearer other"})
    assert "modelscope" not in json.loads(run("export_xiaozhi_config")[0])


def test_platforms_are_encrypted_at_rest_masked_in_the_export_and_kept_on_reimport(tmp_path):
    data = {
        "mcpEndpoint": [],
        "platforms": {"coze": {"token": f"{SECRET_MARK}coze", "baseUrl": "https://api.coze.com"}},
    }
    run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))
    platform = Platform.objects.get(name="coze")
    assert platform.settings == data["platforms"]["coze"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT settings FROM {Platform._meta.db_table} WHERE id = %s", [platform.pk]
        )
        (raw,) = cursor.fetchone()
    assert SECRET_MARK not in str(raw) and "api.coze.com" not in str(raw)

    masked_text, err = run("export_xiaozhi_config")
    masked = json.loads(masked_text)
    assert masked["platforms"] == {"coze": {"token": "***", "baseUrl": "https://api.coze.com"}}
    assert SECRET_MARK not in masked_text
    full = json.loads(run("export_xiaozhi_config", "--include-secrets")[0])
    assert full["platforms"]["coze"]["token"] == f"{SECRET_MARK}coze"

    out, _ = run("import_xiaozhi_config", write(tmp_path, masked_text, "masked.json"))
    assert "imported: unchanged 1: coze" in section(out, "platforms")
    assert Platform.objects.get(name="coze").settings["token"] == f"{SECRET_MARK}coze"

    # A fresh hub cannot use a masked token: it is left out, and the report says so.
    Platform.objects.all().delete()
    out, _ = run("import_xiaozhi_config", write(tmp_path, masked_text, "masked.json"))
    assert "warning: platforms.coze.token: masked in the export, left out" in section(
        out, "platforms"
    )
    assert Platform.objects.get(name="coze").settings == {"baseUrl": "https://api.coze.com"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["customMCP"]["tools"][0]["handler"].update(url="ftp://x"),
         "customMCP.tools[0].handler.url: must be an http:// or https:// URL"),
        (lambda d: d["customMCP"]["tools"][1]["handler"]["config"].pop("workflow_id"),
         "customMCP.tools[1].handler.config.workflow_id: a Coze tool needs workflow_id or bot_id"),
        (lambda d: d["customMCP"]["tools"][2].update(name="a__b"), "customMCP.tools[2].name: "),
        (lambda d: d["customMCP"]["tools"][3].update(name="weather_http"),
         "customMCP.tools[3].name: weather_http is defined earlier, at customMCP.tools[0]"),
        (lambda d: d["customMCP"].update(tools={}), "customMCP.tools: must be an array"),
        (lambda d: d["customMCP"]["tools"][4].update(inputSchema={"type": "nonsense"}),
         "customMCP.tools[4].inputSchema: "),
        (lambda d: d["platforms"].update(coze="token"), "platforms.coze: must be an object"),
        (lambda d: d["modelscope"].update(apiKey=""), "modelscope.apiKey: must be a non-empty"),
    ],
)  # fmt: skip
def test_a_bad_custom_tool_or_platform_names_its_path_and_imports_nothing(
    tmp_path, change, message
):
    data = json5.loads(Path(json5_config(tmp_path)).read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(CommandError) as caught:
        run("import_xiaozhi_config", write(tmp_path, json.dumps(data, ensure_ascii=False)))
    assert message in str(caught.value) and "nothing was imported" in str(caught.value)
    assert SECRET_MARK not in str(caught.value)
    assert not Endpoint.objects.exists() and not CustomTool.objects.exists()
    assert not Platform.objects.exists() and not McpServer.objects.exists()


def test_the_bare_custom_mcp_tools_list_is_read_too(tmp_path):
    data = {
        "mcpEndpoint": [],
        "customMCPTools": [{
            "name": "ping_site",
            "description": "GET a page",
            "inputSchema": {"type": "object"},
            "handler": {"type": "http", "url": "https://example.com/", "method": "GET"},
        }],
    }  # fmt: skip
    out, _ = run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))
    assert "imported: created 1: ping_site" in section(out, "customMCPTools")
    assert CustomTool.objects.get().kind == "http"


def snapshot():
    return (
        sorted((e.name, e.url, e.enabled, e.peer_profile) for e in Endpoint.objects.all()),
        sorted(
            (s.name, s.transport, s.command, s.args, s.env, s.url, s.headers)
            for s in McpServer.objects.all()
        ),
        sorted((t.exposed_name, t.enabled, t.effective_description) for t in Tool.objects.all()),
        sorted((p.name, p.settings) for p in Platform.objects.all()),
        # a custom tool's handler as exported: a changed timeout is written into it
        sorted(
            (
                t.name,
                t.kind,
                t.description,
                t.input_schema,
                custom_tool_to_client(t)["handler"],
                t.enabled,
                t.disabled_reason,
                t.timeout,
            )
            for t in CustomTool.objects.all()
        ),  # fmt: skip
        [
            getattr(PoolOptions.load(), f)
            for f in ("health_check_interval", "connection_timeout", "reconnect_interval")
        ],  # fmt: skip
    )


def test_export_then_import_round_trips_every_kind_and_peer_profiles(tmp_path):
    run("import_xiaozhi_config", json5_config(tmp_path))
    Endpoint.objects.filter(name="agent-102").update(peer_profile="relay")
    Endpoint.objects.filter(name="agent-101").update(peer_profile="broker")
    CustomTool.objects.filter(name="coze_workflow").update(timeout=45.0)
    CustomTool.objects.filter(name="say_hello").update(enabled=False)
    before = snapshot()

    target = tmp_path / "export.json"
    run("export_xiaozhi_config", "--include-secrets", "--output", str(target))
    full = json.loads(target.read_text(encoding="utf-8"))
    # What xiaozhi-client's validator needs still holds: endpoints are plain strings.
    assert all(isinstance(url, str) and url for url in full["mcpEndpoint"])
    assert isinstance(full["mcpServers"], dict)
    assert {t["handler"]["type"] for t in full["customMCP"]["tools"]} == {
        "http", "proxy", "mcp", "chain", "script", "function",
    }  # fmt: skip
    assert full["connection"] == {
        "heartbeatInterval": 20000, "heartbeatTimeout": 8000, "reconnectInterval": 3000,
    }  # fmt: skip
    profiles = full["xiaozhiHub"]["endpoints"]
    assert sorted(p["peerProfile"] for p in profiles.values()) == ["broker", "relay"]
    assert set(profiles) <= set(full["mcpEndpoint"])
    coze = next(t for t in full["customMCP"]["tools"] if t["name"] == "coze_workflow")
    assert coze["handler"]["config"]["timeout"] == 45000

    assert full["xiaozhiHub"]["customTools"] == {"say_hello": {"enabled": False}}

    # Into an empty hub: the same configuration, the operator's switches included.
    Endpoint.objects.all().delete()
    McpServer.objects.all().delete()
    CustomTool.objects.all().delete()
    Platform.objects.all().delete()
    PoolOptions.objects.all().delete()
    out, err = run("import_xiaozhi_config", str(target))
    assert snapshot() == before
    again = tmp_path / "again.json"
    run("export_xiaozhi_config", "--include-secrets", "--output", str(again))
    assert json.loads(again.read_text(encoding="utf-8")) == full
    assert "imported: peer profiles of 2 endpoint(s)" in section(out, "xiaozhiHub")

    # The masked export imported here changes nothing and keeps every secret.
    masked_text, _ = run("export_xiaozhi_config")
    assert SECRET_MARK not in masked_text
    masked = json.loads(masked_text)
    http = next(t for t in masked["customMCP"]["tools"] if t["name"] == "weather_http")
    assert http["handler"]["auth"]["token"] == "***"
    out, err = run("import_xiaozhi_config", write(tmp_path, masked_text, "masked.json"))
    assert snapshot() == before and SECRET_MARK not in out + err
    assert "imported: unchanged 2: agent-101, agent-102" in section(out, "mcpEndpoint")
    assert any(line.startswith("imported: unchanged 6:") for line in section(out, "customMCP"))


def test_peer_profiles_in_the_hub_key_apply_to_their_endpoints(tmp_path):
    relay = secret_url(tag="r", agentId=1)
    data = {
        "mcpEndpoint": [relay, secret_url(tag="b", agentId=2)],
        "xiaozhiHub": {
            "endpoints": {
                relay: {"peerProfile": "relay"},
                "wss://gone/": {"peerProfile": "broker"},
            },
            "theme": "dark",
        },
    }
    out, _ = run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))
    assert {e.name: e.peer_profile for e in Endpoint.objects.all()} == {
        "agent-1": "relay", "agent-2": "auto",
    }  # fmt: skip
    lines = section(out, "xiaozhiHub")
    assert "ignored: xiaozhiHub.endpoints[1]: no such URL in mcpEndpoint" in lines
    assert "ignored: xiaozhiHub.theme: not a key the hub knows" in lines
    # A file that says nothing of profiles (xiaozhi-client's own) leaves them as they are.
    del data["xiaozhiHub"]
    out, _ = run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))
    assert Endpoint.objects.get(name="agent-1").peer_profile == "relay"
    assert "imported: unchanged 2: agent-1, agent-2" in section(out, "mcpEndpoint")

    data["xiaozhiHub"] = {"endpoints": {relay: {"peerProfile": "tunnel"}}}
    with pytest.raises(CommandError, match=r"xiaozhiHub.endpoints\[0\].peerProfile: must be one"):
        run("import_xiaozhi_config", write(tmp_path, json.dumps(data)))


def test_a_masked_export_imported_into_a_fresh_hub_skips_what_it_cannot_use(tmp_path):
    run("import_xiaozhi_config", json5_config(tmp_path))
    masked_text, _ = run("export_xiaozhi_config")
    for model in (Endpoint, McpServer, CustomTool, Platform):
        model.objects.all().delete()
    out, err = run("import_xiaozhi_config", write(tmp_path, masked_text, "masked.json"))
    assert SECRET_MARK not in out + err
    assert "warning: mcpEndpoint[0]: skipped, its token was masked in the export" in section(
        out, "mcpEndpoint"
    )
    custom = section(out, "customMCP")
    assert (
        "imported: created 4: calc_alias, coze_workflow, js_function, weather_then_calc" in custom
    )
    for index in (3, 4):  # say_hello (env), weather_http (header, token)
        assert (
            f"warning: customMCP.tools[{index}]: skipped, its secrets were masked in the export"
        ) in custom
    assert "warning: platforms.coze.token: masked in the export, left out" in section(
        out, "platforms"
    )
    assert McpServer.objects.get(name="weather").headers == {}
    assert not Endpoint.objects.exists()
