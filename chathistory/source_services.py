"""Writes of the sources (docs/sources.md): the environment's source, create, update, remove.

A source's `key` is what every row copied from it carries: it never changes once
the row exists. URL and token are stored encrypted; an update that sends the mask
("***") or nothing for them keeps the stored secret.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from xiaozhi_hub.masking import MASK

from .models import (
    DEFAULT_SOURCE,
    Agent,
    ChatMessage,
    ChatSession,
    Device,
    RemoteSession,
    SkippedRow,
    Source,
    SourceKind,
    SyncGap,
    SyncRun,
    SyncState,
)
from .sources.registry import environment_configured, forget_alias, validate_source_url

logger = logging.getLogger(__name__)

SECRET_FIELDS = ("url", "token")
EDITABLE_FIELDS = ("name", "kind", "url", "token", "enabled", "sync_interval", "audio_mode")
MIN_SYNC_INTERVAL = 5
MAX_SYNC_INTERVAL = 7 * 24 * 3600
PURGE_BATCH = 5000


class SourceInUse(ValueError):
    """The source still holds copied history: removing it needs an explicit purge."""


def source_ensure_environment() -> Source | None:
    """The Source row of ESP32_DATABASE_URL ("esp32"), made on first need; idempotent.

    None when ESP32_DATABASE_URL is not set and no such row exists.
    """
    if not environment_configured():
        return Source.objects.filter(key=DEFAULT_SOURCE, from_environment=True).first()
    source, _created = Source.objects.get_or_create(
        key=DEFAULT_SOURCE,
        defaults={
            "name": "ESP32_DATABASE_URL",
            "kind": SourceKind.MYSQL,
            "from_environment": True,
        },
    )
    return source


def ensure_environment_source(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate receiver: the environment's source exists once migrations ran."""
    if using != "default":
        return
    source_ensure_environment()


def validate_source(source: Source) -> None:
    """Model validation plus the URL's scheme and the interval's bounds (ValidationError)."""
    errors: dict[str, list] = {}
    try:
        source.full_clean(exclude=["url", "token"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if source.kind not in SourceKind.values:
        errors.setdefault("kind", []).append(_("unknown source kind %r") % source.kind)
    elif source.from_environment:
        if source.kind != SourceKind.MYSQL:
            errors.setdefault("kind", []).append(
                _("the environment's source is the ESP32_DATABASE_URL database (mysql)")
            )
        if source.url:
            errors.setdefault("url", []).append(
                _("the environment's source takes its URL from ESP32_DATABASE_URL")
            )
    elif not source.url:
        errors.setdefault("url", []).append(_("a URL is required"))
    else:
        try:
            validate_source_url(kind=source.kind, url=source.url)
        except ValidationError as exc:
            errors.setdefault("url", []).extend(exc.messages)
    if not MIN_SYNC_INTERVAL <= (source.sync_interval or 0) <= MAX_SYNC_INTERVAL:
        errors.setdefault("sync_interval", []).append(
            _("between %(low)s and %(high)s seconds")
            % {"low": MIN_SYNC_INTERVAL, "high": MAX_SYNC_INTERVAL}
        )
    if len(source.token) > 4000:
        errors.setdefault("token", []).append(_("the token is longer than 4000 characters"))
    if errors:
        raise ValidationError(errors)


def source_create(
    *,
    key: str,
    name: str = "",
    kind: str = SourceKind.MYSQL,
    url: str = "",
    token: str = "",
    enabled: bool = True,
    sync_interval: int = 30,
    audio_mode: str = "off",
) -> Source:
    """A new source (ValidationError, masked, for a bad one)."""
    source = Source(
        key=key,
        name=name,
        kind=kind,
        url=url,
        token=token,
        enabled=enabled,
        sync_interval=sync_interval,
        audio_mode=audio_mode,
    )
    validate_source(source)
    source.save()
    return source


def unmasked_url(new: str, old: str) -> str:
    """`new` with its password "***" (as the API shows the URL) replaced by the stored one,
    so a client may send back the masked URL, or change only its host or database."""
    if new == MASK:
        return old
    try:
        parts, stored = urlsplit(new), urlsplit(old)
        if parts.password != MASK or stored.password is None:
            return new
        netloc = parts.netloc.replace(f":{MASK}@", f":{stored.password}@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return new  # validation says what is wrong with it


def source_update(*, source: Source, **changes) -> Source:
    """Change a source's settings (never its key). A secret sent as "***" or "" is kept."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: [_("cannot be changed")] for name in sorted(unknown)})
    old_url = source.url
    for name, value in changes.items():
        if name in SECRET_FIELDS and value in (None, "", MASK):
            continue
        if name == "url":
            value = unmasked_url(value, old_url)
        setattr(source, name, value)
    validate_source(source)
    source.save()
    if source.url != old_url:
        forget_alias(source.key)  # the next run registers the new connection
    return source


def source_connection_changed(*, source: Source) -> None:
    """The source's URL changed (the admin saved it): the next run registers it anew."""
    forget_alias(source.key)


def source_history_count(*, source: Source) -> int:
    """How many messages the hub holds from this source."""
    return ChatMessage.objects.filter(source=source.key).count()


def source_delete(*, source: Source, purge: bool = False) -> dict:
    """Remove a source. One that still holds messages is refused (SourceInUse) unless
    `purge`: then its messages, sessions, devices, agents and sync records go too, in
    batches (no long lock). Returns what was deleted."""
    held = source_history_count(source=source)
    if held and not purge:
        raise SourceInUse(
            _(
                "source %(key)s still holds %(count)s messages; remove it with purge "
                "(deletes them) or disable it instead"
            )
            % {"key": source.key, "count": held}
        )
    deleted = {"messages": 0}
    key = source.key
    while True:
        ids = list(
            ChatMessage.objects.filter(source=key).values_list("id", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            break
        with transaction.atomic():
            deleted["messages"] += ChatMessage.objects.filter(id__in=ids).delete()[0]
    with transaction.atomic():
        for label, model in (
            ("sessions", ChatSession),
            ("devices", Device),
            ("agents", Agent),
            ("runs", SyncRun),
            ("gaps", SyncGap),
            ("skipped_rows", SkippedRow),
            ("states", SyncState),
            # Else a source re-added under this key would take its sessions as copied.
            ("remote_sessions", RemoteSession),
        ):
            deleted[label] = model.objects.filter(source=key).delete()[0]
        source.delete()
    forget_alias(key)
    logger.info("source %s removed: %s", key, deleted)
    return deleted
