"""docker-compose.yml cannot run here (no Docker engine): check what can be checked."""

import yaml

from tests.services import REPO, documented_commands

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
HUB_SERVICES = ("web", "worker", "beat")


def test_compose_has_the_production_services_on_one_named_network():
    services = COMPOSE["services"]
    assert set(services) == {"mysql", "redis", "web", "worker", "beat"}
    assert list(COMPOSE["networks"]) == ["hub"]
    for name, service in services.items():
        assert service["networks"] == ["hub"], name


def test_database_is_utf8mb4_with_a_volume_and_a_healthcheck():
    mysql = COMPOSE["services"]["mysql"]
    assert mysql["image"].startswith(("mariadb:11", "mysql:8"))
    assert "--character-set-server=utf8mb4" in mysql["command"]
    assert "healthcheck" in mysql and "healthcheck" in COMPOSE["services"]["redis"]
    volume = mysql["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]


def test_hub_services_are_configured_only_through_the_environment():
    for name in HUB_SERVICES:
        service = COMPOSE["services"][name]
        assert "env_file" not in service and "volumes" not in service, name
        env = service["environment"]
        assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= set(env), name
        assert env["DATABASE_URL"].startswith("mysql://") and "@mysql:3306/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["mysql"]["condition"] == "service_healthy"


def test_commands_are_exactly_the_documented_process_commands():
    documented = documented_commands()
    web = COMPOSE["services"]["web"]["command"]
    assert web[:2] == ["sh", "-c"]
    migrate, _, serve = web[2].partition(" && exec ")
    assert migrate == "python manage.py migrate --noinput"
    assert serve == documented["daphne"]
    assert " ".join(COMPOSE["services"]["worker"]["command"]) == documented["worker"]
    assert " ".join(COMPOSE["services"]["beat"]["command"]) == documented["beat"]
