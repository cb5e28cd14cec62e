import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.services import free_port
from xiaozhi_hub.health import write_grants

pytestmark = pytest.mark.django_db


@pytest.mark.requires_services("mysql", "redis")
def test_health_is_ok_on_real_mariadb_and_redis(client):
    response = client.get("/api/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok" and checks["database"]["detail"].startswith("mysql")
    assert checks["channel_layer"] == {**checks["channel_layer"], "status": "ok", "detail": "redis"}
    assert checks["broker"]["status"] == "ok"
    for name in ("source_database", "source_readonly"):
        assert checks[name]["status"] == "not_configured", name
        assert checks[name]["required"] is False
        assert checks[name]["detail"] == "ESP32_DATABASE_URL is not set"


@pytest.fixture
def redis_down(settings):
    """Point the channel layer and the broker at a closed port, with a password in the URL."""
    url = f"redis://:hunter2-very-secret@127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
    return url


def test_health_is_503_with_a_reason_when_redis_is_unreachable(client, redis_down):
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    for name in ("channel_layer", "broker"):
        check = body["checks"][name]
        assert check["status"] == "error" and check["required"] is True
        assert "onnect" in check["detail"], check  # "Connection refused" / "Connect call failed"
    assert body["checks"]["database"]["status"] == "ok"
    assert "hunter2-very-secret" not in response.content.decode()


def test_hub_doctor_fails_and_masks_when_redis_is_unreachable(redis_down, capsys):
    with pytest.raises(CommandError, match="a required check failed"):
        call_command("hub_doctor")
    out = capsys.readouterr().out
    assert "channel_layer    error" in out and "broker           error" in out
    assert "hunter2-very-secret" not in out


def test_health_needs_no_login_and_is_json(client):
    response = client.get("/api/health")
    assert response["Content-Type"] == "application/json"
    assert set(json.loads(response.content)["checks"]) == {
        "database",
        "channel_layer",
        "broker",
        "source_database",
        "source_readonly",
        "pool_workers",
        "sync_schedule",
    }


# SHOW GRANTS lines as MySQL 8 and MariaDB print them (the MySQL 8 ones cannot run
# here: the test server is MariaDB; tests/chathistory/test_source_read_only.py runs
# the real thing there).
MYSQL8_ROOT = [
    "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, SHUTDOWN, PROCESS, FILE, "
    "REFERENCES, INDEX, ALTER, SHOW DATABASES, SUPER, CREATE TEMPORARY TABLES, LOCK TABLES, "
    "EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, "
    "ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, CREATE TABLESPACE, CREATE ROLE, DROP ROLE "
    "ON *.* TO `root`@`%` WITH GRANT OPTION",
    "GRANT APPLICATION_PASSWORD_ADMIN,AUDIT_ADMIN,BACKUP_ADMIN ON *.* TO `root`@`%` "
    "WITH GRANT OPTION",
    "GRANT PROXY ON ``@`` TO `root`@`%` WITH GRANT OPTION",
]


@pytest.mark.parametrize(
    ("grants", "writes"),
    [
        pytest.param(
            MYSQL8_ROOT,
            [
                "INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE VIEW, "
                "CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER on *.*"
            ],
            id="mysql8-root",
        ),
        pytest.param(
            [
                "GRANT USAGE ON *.* TO `reader`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF'",
                "GRANT SELECT ON `xiaozhi_esp32_server`.* TO `reader`@`%`",
            ],
            [],
            id="mariadb-reader",
        ),
        pytest.param(
            [
                "GRANT USAGE ON *.* TO `reader`@`%`",
                "GRANT SELECT ON `xiaozhi_esp32_server`.* TO `reader`@`%`",
            ],
            [],
            id="mysql8-reader",
        ),
        pytest.param(
            ["GRANT ALL PRIVILEGES ON `xiaozhi\\_esp32\\_server`.* TO `hub`@`%`"],
            ["ALL PRIVILEGES on `xiaozhi\\_esp32\\_server`.*"],
            id="escaped-database-name",
        ),
        pytest.param(
            ["GRANT INSERT, SELECT ON `xiaozhi%`.* TO `hub`@`%`"],
            ["INSERT on `xiaozhi%`.*"],
            id="database-wildcard",
        ),
        pytest.param(
            [
                "GRANT SELECT, UPDATE (`content`) "
                "ON `xiaozhi_esp32_server`.`ai_agent_chat_history` TO `hub`@`%`"
            ],
            ["UPDATE on `xiaozhi_esp32_server`.`ai_agent_chat_history`"],
            id="column-grant",
        ),
        pytest.param(
            [
                "GRANT ALL PRIVILEGES ON `hub`.* TO `hub`@`%`",
                "GRANT ALL PRIVILEGES ON `xiaozhi\\_esp32\\_server\\_old`.* TO `hub`@`%`",
                "GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `xiaozhi_esp32_server`.`p` TO `hub`@`%`",
                "GRANT `writer` TO `hub`@`%`",
            ],
            [],
            id="other-databases-routines-roles",
        ),
    ],
)
def test_write_grants_reads_show_grants_of_mysql8_and_mariadb(grants, writes):
    assert write_grants(grants, "xiaozhi_esp32_server") == writes
