"""Writes of endpoints and the global connection options.

Each write ends with `pool_notify_changed()`: on commit the running pool (wherever
it runs) re-reads its rows within a second; its periodic reconcile is the safety
net for a lost message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from endpoints.models import Endpoint, PoolOptions
from endpoints.options import BY_FIELD, CONNECTION_FIELDS, LOAD_BALANCE
from endpoints.pool_requests.reload import pool_notify_changed
from endpoints.services.fields import set_fields

ENDPOINT_FIELDS = {
    "name",
    "url",
    "enabled",
    "health_check_enabled",
    "reconnect_on_tools_change",
    "peer_profile",
    *CONNECTION_FIELDS,
}


def endpoint_save(*, endpoint: Endpoint) -> Endpoint:
    """Validate and save (create or update) an endpoint; the pool picks it up."""
    endpoint.full_clean()
    endpoint.save()
    pool_notify_changed()
    return endpoint


def endpoint_create(
    *,
    name: str,
    url: str,
    enabled: bool = True,
    health_check_enabled: bool = True,
    options: dict[str, Any] | None = None,
) -> Endpoint:
    endpoint = Endpoint(
        name=name, url=url, enabled=enabled, health_check_enabled=health_check_enabled
    )
    _set_endpoint_fields(endpoint, options or {})
    return endpoint_save(endpoint=endpoint)


def _set_endpoint_fields(endpoint: Endpoint, data: dict[str, Any]) -> None:
    set_fields(
        endpoint,
        data,
        allowed=ENDPOINT_FIELDS,
        what="endpoint",
        none_as_blank={"reconnect_strategy"},
    )


def endpoint_update(*, endpoint_id: int, data: dict[str, Any]) -> Endpoint:
    """Change some fields (model field names; None clears an option override)."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        _set_endpoint_fields(endpoint, data)
        return endpoint_save(endpoint=endpoint)


def endpoint_delete(*, endpoint_id: int) -> None:
    Endpoint.objects.get(pk=endpoint_id).delete()
    pool_notify_changed()


def endpoint_set_enabled(*, endpoint_ids: Iterable[int], enabled: bool) -> int:
    """Enable or disable endpoints; returns how many changed."""
    changed = 0
    with transaction.atomic():
        for endpoint in Endpoint.objects.select_for_update().filter(pk__in=list(endpoint_ids)):
            if endpoint.enabled != enabled:
                endpoint.enabled = enabled
                endpoint.save(update_fields=["enabled", "updated_at"])
                changed += 1
        if changed:
            pool_notify_changed()
    return changed


def pool_options_update(*, data: dict[str, Any]) -> PoolOptions:
    """Change global options (model field names); validated, then applied at run time."""
    with transaction.atomic():
        options = PoolOptions.load()
        set_fields(options, data, allowed=BY_FIELD, what="connection option")
        options.full_clean()
        options.save()
        pool_notify_changed()
    return options


def pool_set_load_balance_strategy(*, strategy: str) -> PoolOptions:
    if strategy not in LOAD_BALANCE.choices:
        raise ValueError(f"strategy must be one of {', '.join(LOAD_BALANCE.choices)}")
    return pool_options_update(data={"load_balance_strategy": strategy})
