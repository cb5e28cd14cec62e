"""Setting a model's fields from a dict, limited to the fields a caller may change."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.db import models


def set_fields(
    instance: models.Model,
    data: Mapping[str, Any],
    *,
    allowed: Collection[str],
    what: str,
    none_as_blank: Collection[str] = (),
) -> None:
    """setattr() each item of `data`; a field outside `allowed` is a ValueError naming it.

    For the text fields in `none_as_blank`, None is stored as "" (their blank means
    "not set": use the global value, or the upstream description).
    """
    for field, value in data.items():
        if field not in allowed:
            raise ValueError(f"unknown {what} field {field!r}")
        if value is None and field in none_as_blank:
            value = ""
        setattr(instance, field, value)
