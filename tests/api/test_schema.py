"""The OpenAPI schema: generated without a warning, covering every REST route, and
served at /api/schema/ with Swagger UI at /api/docs/ to staff accounts."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.access.test_matrix import handled_methods, url_routes
from tests.services import REPO, hub_env

# Routes that are not REST operations: the schema and its page, and the JSON 404s.
NOT_OPERATIONS = {"/api/schema/", "/api/docs/", "/api/", "/api/<path:unknown>"}
REPORT = "/xiaozhi/agent/chat-history/report"


def test_the_schema_generates_and_validates_without_a_warning(tmp_path):
    """drf-spectacular's own check: a view it cannot describe is a warning, and fails."""
    out = tmp_path / "schema.yaml"
    command = [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn"]
    result = subprocess.run(
        [*command, "--file", str(out)],
        cwd=REPO,
        env=hub_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "openapi: 3." in out.read_text()


def schema_path(route: str) -> str:
    """A URLconf route as the schema writes it ("<int:pk>" -> "{id}", as drf-spectacular)."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    return path.replace("{pk}", "{id}")


def test_every_rest_route_and_method_is_in_the_schema(api, schema):
    expected = {(REPORT, "post")}
    for route, callback in url_routes():
        if route.startswith("/api/") and route not in NOT_OPERATIONS:
            expected |= {(schema_path(route), m.lower()) for m in handled_methods(callback)}
    documented = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert expected - documented == set(), "routes the schema does not describe"
    assert documented - expected == set(), "operations without a route"
    # Each operation says what it answers, beyond the errors every operation shares.
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            own = {code for code in operation["responses"] if code.startswith(("2", "5"))}
            assert own, f"{method.upper()} {path} documents no success answer"


def test_the_schema_describes_masking_pagination_and_errors(schema):
    components = schema["components"]["schemas"]
    assert "masked" in components["Endpoint"]["properties"]["url"]["description"]
    paged = components["PaginatedEndpointList"]["properties"]
    assert set(paged) == {"next", "previous", "results"}
    endpoints = schema["paths"]["/api/endpoints"]["get"]
    assert {p["name"] for p in endpoints["parameters"]} == {"cursor", "page_size"}
    assert set(endpoints["responses"]) >= {"200", "401", "403", "429"}
    assert components["Error"]["properties"] == {"detail": {"type": "string"}}
    options = components["EndpointOptionsChange"]["properties"]
    assert options["healthCheckInterval"]["nullable"] is True  # null clears an override
    report = schema["paths"][REPORT]["post"]
    assert report["security"] == [{"reportSecret": []}]
    assert set(report["responses"]) == {"200", "400", "401", "403", "413", "503"}


@pytest.mark.requires_services("mysql", "redis")
def test_schema_and_page_are_for_staff_accounts(db, django_user_model):
    anonymous = APIClient().get("/api/schema/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    page = Client().get("/api/docs/")
    assert page.status_code == 302 and "/admin/login/" in page["Location"]
    outsider = APIClient()
    outsider.force_login(django_user_model.objects.create_user("outsider", password="pw"))
    assert outsider.get("/api/schema/").status_code == 403
    # Any staff account may read them: they describe the API and hold no data.
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))
    assert staff.get("/api/schema/", {"format": "json"}).json()["openapi"].startswith("3.")
    html = staff.get("/api/docs/").content.decode()
    # No inline script or style (the CSP refuses them): every script is a file.
    assert "<style" not in html and re.findall(r"<script>", html) == []
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert any("swagger-ui-dist/swagger-ui-bundle" in src for src in scripts), scripts
    assert not any(src.startswith(("http:", "https:", "//")) for src in scripts), scripts
    init = staff.get(next(src for src in scripts if "?script" in src))
    assert init["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in init.content.decode()
