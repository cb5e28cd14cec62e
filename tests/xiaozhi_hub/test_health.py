import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.services import free_port

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
    assert checks["source_database"]["status"] == "not_configured"
    assert checks["source_database"]["required"] is False


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
    }
