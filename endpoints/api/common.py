"""What the REST views of both domains share: 400s keyed like the request, query params."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework.exceptions import NotFound, ValidationError


def as_400(exc: DjangoValidationError, *, keys: dict[str, str]) -> ValidationError:
    """A model validation error as a DRF 400, keyed like the request body (`keys`:
    model field -> JSON key; fields not in it keep their name)."""
    if not hasattr(exc, "error_dict"):
        return ValidationError({"detail": exc.messages})
    return ValidationError(
        {keys.get(field, field): messages for field, messages in exc.message_dict.items()}
    )


def bool_param(request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValidationError({name: ["must be true or false"]})


def int_param(request, name: str, *, default: int | None, maximum: int | None = None):
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise ValidationError({name: ["must be a whole number >= 0"]})
    return min(int(value), maximum) if maximum else int(value)


def get_or_404(model: type[models.Model], pk: int, *, what: str) -> models.Model:
    """The row, or a 404 saying "no <what> with id <pk>"."""
    try:
        return model.objects.get(pk=pk)
    except model.DoesNotExist:
        raise NotFound(f"no {what} with id {pk}") from None
