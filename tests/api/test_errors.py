"""Who is refused how: 401 with a challenge for no (or a bad) credential, 403 for an
account without the permission, and a JSON 404 for any /api/ path no route has."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.services import api_token

pytestmark = pytest.mark.requires_services("mysql", "redis")


def test_no_credentials_is_401_with_the_token_challenge(db):
    for method, path in (
        ("get", "/api/endpoints"),
        ("post", "/api/tools/call"),
        ("get", "/api/v2/devices"),
    ):
        response = getattr(APIClient(), method)(path)
        assert response.status_code == 401, (path, response.status_code)
        assert response["WWW-Authenticate"] == "Token"
        assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_bad_token_is_401_and_a_good_one_without_permission_is_403(db, django_user_model):
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    response = bad.get("/api/endpoints")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    allowed_in = APIClient()
    allowed_in.credentials(HTTP_AUTHORIZATION=f"Token {api_token(staff)}")
    refused = allowed_in.get("/api/endpoints")
    assert refused.status_code == 403 and "WWW-Authenticate" not in refused
    assert "endpoints.view_endpoint" in refused.json()["detail"]
    # A session login without the permission: 403 as well.
    session = APIClient()
    session.force_login(staff)
    assert session.get("/api/endpoints").status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/"),
        ("get", "/api/nope"),
        ("post", "/api/nope/deeper"),
        ("delete", "/api/endpoints/not-a-number"),
        ("get", "/api/endpoints/"),  # a trailing slash is another path
        ("get", "/api/v3/devices"),
    ],
)
def test_unknown_api_paths_answer_a_json_404(db, method, path, django_user_model):
    superuser = Client()
    superuser.force_login(
        django_user_model.objects.create_user("root", is_staff=True, is_superuser=True)
    )
    for client in (Client(), superuser):
        response = getattr(client, method)(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}


def test_paths_outside_the_api_keep_django_404(db):
    response = Client().get("/nothing-here")
    assert response.status_code == 404 and "json" not in response["Content-Type"]
