"""Health checks shared by GET /api/health and `manage.py hub_doctor`.

Each check really talks to its service (a query, a message through the
channel layer, a broker connection) with a time limit, and reports
`ok`, `error` (with a masked reason) or `not_configured`.

The apps add checks of what only they know (the pool workers' heartbeats,
the sync schedule's last tick) with `register_check` from their
AppConfig.ready(), so this core module never imports them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from kombu import Connection

from .masking import mask_text, mask_url


@dataclass
class CheckResult:
    status: str  # "ok" | "error" | "not_configured"
    required: bool
    detail: str
    elapsed_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return self.required and self.status == "error"


def check_database() -> CheckResult:
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return CheckResult(
            "error", True, f"{len(pending)} migrations not applied: run `manage.py migrate`"
        )
    return CheckResult("ok", True, f"{connection.vendor} {connection.settings_dict['NAME']}")


def check_channel_layer() -> CheckResult:
    """Send one message to a fresh channel and read it back."""
    layer = channel_layers.make_backend("default")

    async def round_trip() -> None:
        try:
            channel = await layer.new_channel("health.")
            await layer.send(channel, {"type": "health.check"})
            received = await asyncio.wait_for(layer.receive(channel), settings.HUB_HEALTH_TIMEOUT)
            if received.get("type") != "health.check":
                raise RuntimeError(f"read back {received!r}")
        finally:
            if hasattr(layer, "close_pools"):
                await layer.close_pools()

    async_to_sync(round_trip)()
    kind = "redis" if settings.REDIS_URL else "in-memory (one process)"
    return CheckResult("ok", True, kind)


def check_broker() -> CheckResult:
    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return CheckResult(
            "ok", True, "in-process: tasks run where they are sent (one-process mode)"
        )
    with Connection(url, connect_timeout=settings.HUB_HEALTH_TIMEOUT) as connection:
        connection.ensure_connection(
            max_retries=1, interval_start=0, timeout=settings.HUB_HEALTH_TIMEOUT
        )
    return CheckResult("ok", True, mask_url(url))


def _source_connection():
    """The `esp32` alias's connection, or None when ESP32_DATABASE_URL is not set."""
    alias = settings.SOURCE_DATABASE_ALIAS
    return connections[alias] if alias in settings.DATABASES else None


def _source_not_configured() -> CheckResult:
    return CheckResult("not_configured", False, "ESP32_DATABASE_URL is not set")


def check_source_database() -> CheckResult:
    connection = _source_connection()
    if connection is None:
        return _source_not_configured()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM ai_agent_chat_history LIMIT 1")
    return CheckResult("ok", False, f"mysql {connection.settings_dict['NAME']}")


# Privileges that change data or schema. A source user holding any of them on the
# source database (or on every database) could write it, READ ONLY session or not.
WRITE_PRIVILEGES = frozenset(
    {
        "ALL",
        "ALL PRIVILEGES",
        "INSERT",
        "UPDATE",
        "DELETE",
        "DELETE HISTORY",
        "CREATE",
        "CREATE VIEW",
        "CREATE ROUTINE",
        "ALTER",
        "ALTER ROUTINE",
        "DROP",
        "INDEX",
        "TRIGGER",
        "EVENT",
    }
)
# `GRANT <privileges> ON [TABLE] <db>.<object> TO <user> ...` as SHOW GRANTS prints it
# on MySQL 8 and MariaDB. Routine grants (PROCEDURE, FUNCTION, PACKAGE) hold no
# table data, and role grants (`GRANT role TO user`, no ON) are not followed.
_GRANT = re.compile(
    r"^GRANT (?P<privileges>.+?) ON (?:TABLE )?(?P<scope>(?P<db>`(?:[^`]|``)*`|[^.\s]+)\.\S+)"
)
_COLUMN_LIST = re.compile(r"\s*\([^)]*\)")  # UPDATE (col1, col2): still UPDATE
# A database-level grant names a LIKE pattern: % and _ are wildcards, \% and \_ literal.
_LIKE_TOKEN = re.compile(r"\\(.)|(%)|(_)|([^\\%_]+)")


def _like_regex(pattern: str) -> str:
    def token(match: re.Match) -> str:
        escaped, percent, underscore, text = match.groups()
        if percent:
            return ".*"
        if underscore:
            return "."
        return re.escape(escaped if escaped is not None else text)

    return _LIKE_TOKEN.sub(token, pattern)


def _grant_covers(db: str, database: str) -> bool:
    """Whether a grant's database part (`*`, `name`, or a LIKE pattern) covers `database`."""
    if db == "*":
        return True
    if db.startswith("`"):
        db = db[1:-1].replace("``", "`")
    return re.fullmatch(_like_regex(db), database) is not None


def write_grants(grants: list[str], database: str) -> list[str]:
    """What `SHOW GRANTS` lines let the user write on `database`: "INSERT, UPDATE on *.*"."""
    found = []
    for line in grants:
        match = _GRANT.match(line)
        if match is None or not _grant_covers(match["db"], database):
            continue
        privileges = _COLUMN_LIST.sub("", match["privileges"]).split(",")
        writes = [name for p in privileges if (name := p.strip().upper()) in WRITE_PRIVILEGES]
        if writes:
            found.append(f"{', '.join(writes)} on {match['scope']}")
    return found


def check_source_read_only() -> CheckResult:
    """Whether the source user could write the source database (it should not)."""
    connection = _source_connection()
    if connection is None:
        return _source_not_configured()
    database = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        user = cursor.fetchone()[0]
        cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
        writes = write_grants([row[0] for row in cursor.fetchall()], database)
    if writes:
        return CheckResult(
            "error",
            False,
            f"the source user {user} can write: {'; '.join(writes)}. "
            "Use a read-only user (docs/deploy.md)",
        )
    return CheckResult("ok", False, f"read-only: {user} cannot write {database}")


CHECKS: dict[str, tuple[Callable[[], CheckResult], bool]] = {
    "database": (check_database, True),
    "channel_layer": (check_channel_layer, True),
    "broker": (check_broker, True),
    # Optional: a down source delays chat sync but the hub keeps serving.
    "source_database": (check_source_database, False),
    # Optional too: a source user that can write is a risk to point out, not an outage.
    "source_readonly": (check_source_read_only, False),
}


def register_check(name: str, check: Callable[[], CheckResult], *, required: bool) -> None:
    """Add (or replace) a check; it runs after the ones above, in registration order."""
    CHECKS[name] = (check, required)


def run_checks() -> dict[str, CheckResult]:
    results = {}
    for name, (check, required) in CHECKS.items():
        started = time.monotonic()
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reported reason
            reason = str(exc) or type(exc).__name__
            result = CheckResult("error", required, mask_text(f"{type(exc).__name__}: {reason}"))
        result.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        results[name] = result
    return results


def overall_status(results: dict[str, CheckResult]) -> str:
    if any(r.failed for r in results.values()):
        return "error"
    if any(r.status == "error" for r in results.values()):
        return "degraded"
    return "ok"


def failure_reasons(results: dict[str, CheckResult]) -> list[str]:
    """Why the status is not `ok`: "<check>: <detail>" for each failed check."""
    return [f"{name}: {r.detail}" for name, r in results.items() if r.status == "error"]


def health_report() -> tuple[dict, bool]:
    """The JSON body of /api/health and whether every required check passed."""
    results = run_checks()
    status = overall_status(results)
    body = {
        "status": status,
        "hub": settings.HUB_NAME,
        "reasons": failure_reasons(results),
        "checks": {name: asdict(result) for name, result in results.items()},
    }
    return body, status != "error"
