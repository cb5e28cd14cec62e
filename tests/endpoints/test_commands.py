"""Management commands, including the xiaozhi.config.json import."""

import io
import json

import pytest
from django.core.management import CommandError

from endpoints.models import Endpoint, PoolOptions
from tests.endpoints.command_output import run, section
from tests.endpoints.conftest import SECRET_MARK, secret_url

pytestmark = pytest.mark.django_db


def test_add_list_update_status_remove(monkeypatch):
    out, _ = run("endpoint_add", "relay", secret_url(tag="c"), "--health-check-interval", "15",
                 "--no-jitter")  # fmt: skip
    assert "Added endpoint" in out and "token=***" in out and SECRET_MARK not in out
    endpoint = Endpoint.objects.get(name="relay")
    assert (endpoint.health_check_interval, endpoint.jitter) == (15.0, False)

    # "-" reads the URL from stdin, keeping the token out of the process list.
    monkeypatch.setattr("sys.stdin", io.StringIO(secret_url(tag="stdin") + "\n"))
    run("endpoint_add", "second", "-")
    assert Endpoint.objects.get(name="second").url.endswith(f"{SECRET_MARK}stdin")

    out, _ = run("endpoints_list")
    assert "relay" in out and "second" in out and "healthCheckInterval=15000" in out
    assert SECRET_MARK not in out

    out, _ = run("endpoint_update", "relay", "--disable", "--clear", "jitter",
                 "--reconnect-strategy", "adaptive")  # fmt: skip
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.jitter, endpoint.reconnect_strategy) == (
        False,
        None,
        "adaptive",
    )

    out, _ = run("endpoints_status")
    lines = out.splitlines()
    assert lines[0].startswith("0 of 2 connected")
    assert any("relay" in line and "disabled" in line for line in lines)
    assert any("second" in line and "connecting" in line for line in lines)
    assert SECRET_MARK not in out

    out, _ = run("endpoint_remove", str(endpoint.pk))
    assert "Removed endpoint" in out and not Endpoint.objects.filter(name="relay").exists()


def test_command_errors_are_clear_and_masked():
    with pytest.raises(CommandError, match="not a ws:// or wss:// URL") as caught:
        run("endpoint_add", "x", f"http://host/?token={SECRET_MARK}")
    assert SECRET_MARK not in str(caught.value)
    with pytest.raises(CommandError, match="no endpoint with id or name 'nope'"):
        run("endpoint_remove", "nope")
    Endpoint.objects.create(name="a", url=secret_url())
    with pytest.raises(CommandError, match="nothing to change"):
        run("endpoint_update", "a")
    with pytest.raises(CommandError, match="running"):
        run("endpoints_check")
    assert not Endpoint.objects.filter(name="x").exists()


def write_config(tmp_path, data) -> str:
    path = tmp_path / "xiaozhi.config.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
    return str(path)


def test_import_creates_endpoints_skips_placeholders_and_sets_options(tmp_path):
    config = {
        "mcpEndpoint": [
            secret_url(tag="1", agentId=101),
            "wss://api.xiaozhi.me/mcp/?token=<请填写你的接入点token>",
            secret_url(port=9000, tag="2", agentId=102),
        ],
        "mcpServers": {"calculator": {"command": "node", "args": ["calc.js"]}},
        "connectionOptions": {
            "healthCheckInterval": 20000,
            "reconnectInterval": 3000,
            "maxReconnectAttempts": 5,
            "loadBalanceStrategy": "health-based",
            "connectionTimeout": 8000,
            "reconnectStrategy": "linear-backoff",
        },
    }
    path = write_config(tmp_path, config)
    out, err = run("import_xiaozhi_config", path)
    assert "created 2: agent-101, agent-102" in out
    assert "warning: mcpEndpoint[1]: skipped, it is still the template placeholder" in section(
        out, "mcpEndpoint"
    )
    assert "imported: created 1: calculator" in section(out, "mcpServers")
    assert "connection options updated:" in out and SECRET_MARK not in out + err
    options = PoolOptions.load()
    assert (options.health_check_interval, options.max_reconnect_attempts) == (20.0, 5)
    assert (options.load_balance_strategy, options.reconnect_strategy) == (
        "health-based",
        "linear-backoff",
    )

    # Again: nothing new. A regenerated token for agent 101 updates its URL.
    config["mcpEndpoint"][0] = secret_url(tag="1-new", agentId=101)
    out, _ = run("import_xiaozhi_config", write_config(tmp_path, config))
    assert "updated 1: agent-101" in out and "unchanged 1: agent-102" in out
    assert Endpoint.objects.get(name="agent-101").url.endswith(f"{SECRET_MARK}1-new")
    assert Endpoint.objects.count() == 2


def test_import_accepts_a_single_string(tmp_path):
    out, _ = run("import_xiaozhi_config", write_config(tmp_path, {"mcpEndpoint": secret_url()}))
    assert "created 1" in out and Endpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mcpEndpoint": [secret_url(tag="ok"), 42]}, "mcpEndpoint[1]: must be a string"),
        ({"mcpEndpoint": [secret_url(tag="ok"), secret_url(tag="b"),
                          f"http://host/mcp/?token={SECRET_MARK}"]},
         "mcpEndpoint[2]: not a ws:// or wss:// URL"),
        ({"mcpEndpoint": {"a": 1}}, "mcpEndpoint: must be a string or an array"),
        ({"mcpEndpoint": [secret_url(tag="ok")], "connectionOptions": {"healthCheckInterval": "x"}},
         "connectionOptions.healthCheckInterval: must be a number of milliseconds"),
        ({"mcpEndpoint": [secret_url(tag="ok")],
          "connectionOptions": {"reconnectInterval": 60000, "maxReconnectDelay": 1000}},
         "connectionOptions.maxReconnectDelay: must be at least the reconnect interval"),
        ([1, 2], "(top level): must be a JSON object"),
        ('{"mcpEndpoint": [\n  "ws://a/?token=SeCrEtToKeN"\n  "ws://b/"]}',
         "line 3 column 3: not valid JSON5 (unexpected character)"),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_json_path_and_imports_nothing(tmp_path, data, message):
    with pytest.raises(CommandError) as caught:
        run("import_xiaozhi_config", write_config(tmp_path, data))
    assert message in str(caught.value) and "nothing was imported" in str(caught.value)
    assert SECRET_MARK not in str(caught.value)
    assert not Endpoint.objects.exists()
    assert PoolOptions.load().reconnect_interval == 5.0


def test_import_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(CommandError, match="cannot read .*No such file"):
        run("import_xiaozhi_config", str(tmp_path / "missing.json"))
