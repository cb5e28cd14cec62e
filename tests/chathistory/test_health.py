"""GET /api/health with the source database configured but down: `degraded`, still 200.

The source is optional (README, "Checking a running hub"): without it the chat
sync waits, but the hub keeps serving, so the answer stays 200.
"""

from urllib.parse import urlsplit

import pytest

from tests.services import MYSQL_URL, free_port

pytestmark = pytest.mark.django_db

PASSWORD = "source-pw-not-shown"


def nothing_listens() -> str:
    return f"mysql://hub:{PASSWORD}@127.0.0.1:{free_port()}/xiaozhi_esp32_server"


def no_such_database() -> str:
    """The test MariaDB itself, asked for a database it does not have."""
    return urlsplit(MYSQL_URL)._replace(path="/hub_no_such_source").geturl()


@pytest.mark.parametrize(
    ("source_url", "reason"),
    [
        pytest.param(nothing_listens, "Can't connect", id="nothing-listens"),
        pytest.param(
            no_such_database,
            "Unknown database 'hub_no_such_source'",
            id="no-such-database",
            marks=pytest.mark.requires_services("mysql"),
        ),
    ],
)
def test_health_is_degraded_but_200_when_the_source_database_is_down(
    client, source_at, source_url, reason
):
    source_at(source_url())

    response = client.get("/api/health")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "degraded"
    source = body["checks"].pop("source_database")
    assert source["status"] == "error" and source["required"] is False
    assert source["detail"].startswith("OperationalError") and reason in source["detail"], source
    # Whether the source user can write cannot be told either: the same reason.
    readonly = body["checks"].pop("source_readonly")
    assert (readonly["status"], readonly["required"], readonly["detail"]) == (
        "error",
        False,
        source["detail"],
    )
    body["checks"].pop("sync_schedule")  # beat's ticks: tests/xiaozhi_hub/test_health_workers.py
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "channel_layer": "ok",
        "broker": "ok",
        "pool_workers": "ok",
    }
    assert PASSWORD not in response.content.decode()
