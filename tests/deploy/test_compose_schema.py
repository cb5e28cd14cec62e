"""docker-compose.yml and docker-compose.esp32.yml: valid Compose, and what they promise.

Each file, and the model Docker Compose builds from both, validates against the
Compose specification's JSON schema (tests/deploy/compose-spec.md says where the
vendored copy comes from). The override puts web, worker and beat on the
xiaozhi-esp32-server network, an external network whose name is a variable, and
every hub service runs exactly the README's process command.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.services import documented_commands

from .compose import BASE, BOTH, ESP32, FILLED, HUB_SERVICES, load, resolved

HERE = Path(__file__).parent
SCHEMA_FILE = HERE / "compose-spec.json"
SOURCE_URL = "mysql://hub_reader:pw@xiaozhi-esp32-server-db:3306/xiaozhi_esp32_server"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(validator, document) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_the_vendored_schema_is_the_one_its_note_names():
    digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    assert digest in (HERE / "compose-spec.md").read_text()


def test_the_schema_catches_a_broken_compose_file(validator):
    broken = load(ESP32)
    broken["services"]["web"]["networks"] = {"esp32": {"alias": ["typo"]}}
    broken["networks"]["esp32"]["external"] = 1
    assert len(errors(validator, broken)) >= 2


@pytest.mark.parametrize("path", [BASE, ESP32], ids=lambda path: path.name)
def test_each_compose_file_alone_is_valid(validator, path):
    assert errors(validator, load(path)) == []


@pytest.mark.parametrize(
    ("files", "profiles"),
    [((BASE,), ""), (BOTH, ""), (BOTH, "report-mirror")],
    ids=["alone", "with-esp32", "with-esp32-and-report-mirror"],
)
def test_the_model_docker_compose_builds_is_valid(validator, files, profiles, tmp_path):
    env = {**FILLED, "ESP32_DATABASE_URL": SOURCE_URL, "COMPOSE_PROFILES": profiles}
    model = resolved(files, tmp_path, **env)
    assert ("report-mirror" in model["services"]) == bool(profiles)
    assert errors(validator, model) == []


def test_the_override_declares_the_servers_network_external_by_a_variable():
    override = load(ESP32)
    assert override["networks"] == {
        "esp32": {"name": "${ESP32_NETWORK:-xiaozhi-server_default}", "external": True}
    }
    # Only the hub's processes join (and the opt-in report mirror); the hub's own
    # database and Redis stay private.
    assert set(override["services"]) == {*HUB_SERVICES, "report-mirror"}
    assert override["services"]["report-mirror"]["profiles"] == ["report-mirror"]


@pytest.mark.parametrize(
    ("env", "network"),
    [({}, "xiaozhi-server_default"), ({"ESP32_NETWORK": "esp32srv_default"}, "esp32srv_default")],
    ids=["default-name", "ESP32_NETWORK"],
)
def test_with_the_override_the_hub_joins_the_servers_network(tmp_path, env, network):
    model = resolved(BOTH, tmp_path, **FILLED, ESP32_DATABASE_URL=SOURCE_URL, **env)

    esp32 = model["networks"]["esp32"]
    assert (esp32["name"], esp32["external"]) == (network, True)
    services = model["services"]
    for name in HUB_SERVICES:
        assert set(services[name]["networks"]) == {"hub", "esp32"}, name
        environment = services[name]["environment"]
        assert environment["ESP32_DATABASE_URL"] == SOURCE_URL
        # The server's containers call the hub as http://xiaozhi-hub:8000.
        assert environment["ALLOWED_HOSTS"].split(",") == ["localhost", "127.0.0.1", "xiaozhi-hub"]
    assert services["web"]["networks"]["esp32"] == {"aliases": ["xiaozhi-hub"]}
    # One name, one container: the workers must not answer for it too.
    assert not any(
        (services[name]["networks"]["esp32"] or {}).get("aliases") for name in ("worker", "beat")
    )
    assert set(services["mysql"]["networks"]) == set(services["redis"]["networks"]) == {"hub"}
    assert "report-mirror" not in services  # only with COMPOSE_PROFILES=report-mirror


@pytest.mark.parametrize("files", [(BASE,), BOTH], ids=["alone", "with-esp32"])
def test_every_service_runs_exactly_the_documented_process_command(files, tmp_path):
    services = resolved(files, tmp_path, **FILLED, ESP32_DATABASE_URL=SOURCE_URL)["services"]
    documented = documented_commands()

    assert services["web"]["command"] == [
        "sh",
        "-c",
        f"python manage.py migrate --noinput && exec {documented['daphne']}",
    ]
    assert services["worker"]["command"] == documented["worker"].split()
    assert services["beat"]["command"] == documented["beat"].split()


def test_upgrades_migrate_in_web_before_the_workers_start(tmp_path):
    """docs/deploy.md, "Upgrades": web migrates; worker and beat wait for a healthy web,
    and /api/health is unhealthy (503) while a migration is pending."""
    services = resolved(BOTH, tmp_path, **FILLED, ESP32_DATABASE_URL=SOURCE_URL)["services"]
    web = services["web"]
    assert "/api/health" in " ".join(web["healthcheck"]["test"])
    assert re.fullmatch(r"\d+m\d+s|\d+s", web["healthcheck"]["start_period"])
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["web"]["condition"] == "service_healthy", name
    # The worker closes its endpoint connections and gives its leases back on a stop.
    assert services["worker"]["stop_grace_period"] == "30s"
