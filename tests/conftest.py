import pytest

from tests.services import (
    MYSQL_URL,
    REDIS_URL,
    REQUIRE_SERVICES,
    require_services,
    service_available,
    service_reason,
)
from xiaozhi_hub.masking import mask_url


def pytest_configure(config):
    if REQUIRE_SERVICES:
        missing = [service_reason(n) for n in ("mysql", "redis") if not service_available(n)]
        if missing:
            raise pytest.UsageError("HUB_REQUIRE_SERVICES=1 but " + "; ".join(missing))


def pytest_report_header(config):
    database = (
        mask_url(MYSQL_URL) if service_available("mysql") else "SQLite (MariaDB not reachable)"
    )
    redis = mask_url(REDIS_URL) if service_available("redis") else "in-memory (Redis not reachable)"
    required = "required" if REQUIRE_SERVICES else "optional"
    return [f"hub database: {database}", f"hub redis: {redis}", f"services: {required}"]


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("requires_services")
    if marker is not None:
        require_services(*marker.args)


@pytest.fixture
def process_log_dir(tmp_path):
    """Where subprocess logs go; printed on failure so a red CI run explains itself."""
    path = tmp_path / "logs"
    path.mkdir()
    yield path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and "process_log_dir" in item.funcargs:
        for log in sorted(item.funcargs["process_log_dir"].glob("*.log")):
            report.sections.append((f"log {log.name}", log.read_text(errors="replace")[-4000:]))
    return report


def pytest_collection_modifyitems(config, items):
    # Service-backed tests go last, so quick failures surface first.
    items.sort(key=lambda item: item.get_closest_marker("requires_services") is not None)
