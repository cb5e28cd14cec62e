"""Writes: link an endpoint to an agent's history, change or remove the link.

Every change is validated (the model's bounds), audited when a user made it
outside the admin (the admin logs its own), and tells the running pool to
re-read (endpoints/pool_requests/reload.py, after the commit): the endpoint's
tool list changes without a restart.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from endpoints.pool_requests.reload import pool_notify_changed
from xiaozhi_hub.access import audit

from .models import HistoryAccess

FIELDS = ("agent", "enabled", "max_rows", "max_chars", "days")


def _values(access: HistoryAccess) -> dict[str, Any]:
    values = audit.field_values(access, [f for f in FIELDS if f != "agent"])
    values["agent"] = access.agent_id
    return values


@transaction.atomic
def history_access_set(
    *, endpoint_id: int, user=None, via: str = audit.VIA_REST, **fields: Any
) -> tuple[HistoryAccess, bool]:
    """Create or change the access row of `endpoint_id`; (row, created).

    `fields`: any of agent (an Agent), enabled, max_rows, max_chars, days. Raises
    django's ValidationError on bad values, Endpoint.DoesNotExist via the caller's
    lookups (the endpoint must exist: the foreign key)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown fields {sorted(unknown)}")
    access = HistoryAccess.objects.select_for_update().filter(endpoint_id=endpoint_id).first()
    created = access is None
    if created:
        access = HistoryAccess(endpoint_id=endpoint_id)
        before: dict[str, Any] = {}
    else:
        before = _values(access)
    for name, value in fields.items():
        setattr(access, name, value)
    access.full_clean(validate_unique=False)
    access.save()
    if user is not None:
        if created:
            audit.audit_addition(user=user, obj=access, via=via, values=_values(access))
        else:
            audit.audit_change(user=user, obj=access, via=via, before=before, after=_values(access))
    pool_notify_changed()
    return access, created


@transaction.atomic
def history_access_delete(*, endpoint_id: int, user=None, via: str = audit.VIA_REST) -> bool:
    """Remove the endpoint's access row (its history tools go); False when it had none."""
    access = HistoryAccess.objects.filter(endpoint_id=endpoint_id).first()
    if access is None:
        return False
    if user is not None:
        audit.audit_deletion(user=user, obj=access, via=via)
    access.delete()
    pool_notify_changed()
    return True
