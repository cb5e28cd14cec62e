"""The REST API against its own OpenAPI schema: a superuser's token client, the schema
as the hub serves it, and `validated`, which checks one live answer against it."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from rest_framework.test import APIClient

from tests.services import api_token


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_user(
        "root", password="pw", is_staff=True, is_superuser=True
    )


@pytest.fixture
def api(superuser) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(superuser)}")
    return client


@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)


def closed(node):
    """The schema with every described object closed to keys it does not describe.

    The served schema leaves objects open (clients must ignore new keys); the tests
    close them, so an answer carrying a key the schema does not describe fails."""
    if isinstance(node, dict):
        node = {key: closed(value) for key, value in node.items()}
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        return node
    if isinstance(node, list):
        return [closed(item) for item in node]
    return node


@pytest.fixture
def openapi(schema) -> OpenAPI:
    return OpenAPI.from_dict(closed(schema))  # validates the document itself first


class Validator:
    """Sends requests and checks each answer against the operation the schema names."""

    def __init__(self, openapi: OpenAPI):
        self.openapi = openapi
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(
        self,
        client,
        method: str,
        template: str,
        params: dict | None = None,
        body=None,
        *,
        query: str = "",
        authorization: str | None = None,
        valid_request: bool = True,
    ):
        """`template` is the schema's path ("/api/tools/{tool_id}"); `params` fill it.
        `authorization` is sent as the header (an APIClient's own credentials count too).
        With valid_request the request is checked against the schema as well."""
        path = template.format(**(params or {}))
        url = f"{path}?{query}" if query else path
        data = json.dumps(body).encode() if body is not None else None
        extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
        send = getattr(client, method.lower())
        if data is None:
            response = send(url, **extra)
        else:
            response = send(url, data, content_type="application/json", **extra)
        sent = authorization or getattr(client, "_credentials", {}).get("HTTP_AUTHORIZATION")
        request = MockRequest(
            "http://testserver",
            method,
            path,
            path_pattern=template,
            args=dict(parse_qsl(urlsplit(url).query)),
            view_args=params,
            headers={"Authorization": sent} if sent else {},
            data=data,
        )
        if valid_request:
            self.openapi.validate_request(request)
        if response.streaming:  # a download (the exports): read once, kept for the caller
            response.streaming_content = [b"".join(response.streaming_content)]
            body = response.getvalue()
        else:
            body = response.content
        answer = MockResponse(
            body,
            status_code=response.status_code,
            content_type=response.get("Content-Type", "application/json"),
        )
        self.openapi.validate_response(request, answer)
        self.checked.add((method.lower(), template, response.status_code))
        return response


@pytest.fixture
def validated(openapi) -> Validator:
    return Validator(openapi)
