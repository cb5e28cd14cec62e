"""Fixtures for the Prometheus metrics tests: the endpoint tests' peers and staff client."""

from tests.endpoints.conftest import peer_thread, staff_client, staff_user  # noqa: F401
