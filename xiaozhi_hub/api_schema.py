"""What every part of the OpenAPI schema shares (docs/api.md): which routes it covers,
the error bodies, and the error answers every operation can give.

The apps describe their own operations (endpoints/api/*_schema.py,
chathistory/api/schema.py); the hooks here are named in SPECTACULAR_SETTINGS.
"""

from __future__ import annotations

from rest_framework import serializers

# DRF's error bodies. A 400 names each bad field (nested for nested input: the
# endpoint options) or, for a body that is no JSON, says so in `detail`.
ERROR = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string"}},
}
VALIDATION_ERROR = {
    "type": "object",
    "description": '{"<field>": ["<message>", ...]} per bad field (nested objects nest), '
    'or {"detail": "<message>"}',
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string"},
            {"type": "object"},
        ]
    },
}
_ERROR_ANSWERS = {
    "400": ("ValidationError", "bad input: the body says which field and why"),
    "401": ("Error", "no credentials, or a bad token (see the WWW-Authenticate header)"),
    "403": ("Error", "the account is not staff, or lacks the permission `detail` names"),
    "404": ("Error", "no such object"),
    "413": ("Error", "the body is over DATA_UPLOAD_MAX_MEMORY_SIZE"),
    "429": ("Error", "throttled: `detail` and Retry-After say when to come back"),
}
_WRITES = {"post", "put", "patch"}


class HealthCheck(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "error", "not_configured"])
    required = serializers.BooleanField()
    detail = serializers.CharField(allow_blank=True)
    elapsed_ms = serializers.FloatField()


class Health(serializers.Serializer):
    """/api/health: `status` error (503) when a required check failed; `reasons` say which."""

    status = serializers.CharField()
    hub = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    checks = serializers.DictField(child=HealthCheck())


def only_the_rest_api(endpoints):
    """Preprocessing hook: the REST API under /api/, not the schema itself and not the
    console's own request route (its protocol is in docs/console.md)."""
    return [
        (path, regex, method, view)
        for path, regex, method, view in endpoints
        if path.startswith("/api/") and not path.startswith(("/api/schema/", "/api/docs/"))
    ]


def _error_answers(path: str, method: str, operation: dict) -> list[str]:
    if operation.get("security") == [{}] or not operation.get("security"):
        return ["429"]  # open to everyone (the health check): throttled per address only
    codes = ["401", "403", "429"]
    parameters = operation.get("parameters", [])
    # Not found: the object a path names, or a cursor that is not one of ours.
    if "{" in path or any(p["name"] == "cursor" for p in parameters):
        codes.append("404")
    if method in _WRITES or any(p["in"] == "query" for p in parameters):
        codes.append("400")
    if method in _WRITES:
        codes.append("413")
    return codes


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: the error answers (and their bodies) of every REST operation,
    unless the operation describes that status itself."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({"Error": ERROR, "ValidationError": VALIDATION_ERROR})
    for path, operations in result["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _error_answers(path, method, operation):
                name, description = _ERROR_ANSWERS[code]
                schema = {"$ref": f"#/components/schemas/{name}"}
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": schema}},
                    },
                )
    return result
