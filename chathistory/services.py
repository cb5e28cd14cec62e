"""Writes of the chat-history hub: report ingest and sync requests (sources: source_services)."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from xiaozhi_hub.transactions import retries_on_lock_conflict

from . import counters, events
from .audio.policy import message_ids_with_audio
from .audio.storage import AudioTooLarge, store_audio
from .devices import device_key
from .models import DEFAULT_SOURCE, ChatMessage, ChatSession, Device, Source
from .parsing import match_key, parse_content, preview, report_key
from .retention.policy import redact_for
from .source_services import source_ensure_environment
from .sources.registry import source_configured
from .sources.report import ChatReport
from .tasks import sync_chat_history

logger = logging.getLogger(__name__)


@retries_on_lock_conflict  # a deadlock with the sync is retried, not answered 503
def chat_report_ingest(*, report: ChatReport) -> tuple[ChatMessage, bool]:
    """Store one reported message and push it to consoles; (message, created).

    Idempotent: a retried report (same identity) and a report whose source
    row the sync already copied return the existing message.

    Locks in the sync's order (docs/chat-history.md): the device row, then the
    session, then the message, then the counters.
    """
    # The report's identity is its message plus the report time; a source row has no
    # report time, so the sync pairs the two by the message alone (the match key).
    mac = device_key(report.mac)  # one device, however the core spells its MAC
    message_identity = {
        "mac": mac,
        "session_id": report.session_id,
        "chat_type": report.chat_type,
        "raw": report.content,
    }
    key = report_key(**message_identity, report_time_ms=report.report_time_ms)
    pair_key = match_key(**message_identity)
    created_at = report.created_at
    # Reports come from the server of the environment's source (the report secret is its).
    device, _ = Device.objects.get_or_create(source=DEFAULT_SOURCE, mac=mac)
    with transaction.atomic():
        # The sync locks the same row before it pairs reports with source rows. By primary
        # key, as the sync does: locking through the mac index could deadlock with it.
        device = Device.objects.select_for_update().get(pk=device.pk)
        existing = ChatMessage.objects.filter(report_key=key).first()
        if existing is not None:
            return existing, False
        synced = _synced_twin(device, pair_key, created_at)
        if synced is not None:
            synced.report_key = key
            synced.save(update_fields=["report_key"])
            return synced, False
        session = None
        if report.session_id:
            session, _ = ChatSession.objects.get_or_create(
                source=DEFAULT_SOURCE,
                device=device,
                session_id=report.session_id,
                defaults={"agent_id": device.agent_id},
            )
        parsed = parse_content(report.chat_type, report.content)
        # Masked as the retention policy says; the match keys above stay on the raw text,
        # which the source row pairs with.
        agent_key = device.agent.agent_id if device.agent_id else None
        masked = redact_for(source=DEFAULT_SOURCE, mac=mac, agent_id=agent_key, text=parsed.content)
        parsed = replace(parsed, content=masked)
        message = ChatMessage.objects.create(
            source=DEFAULT_SOURCE,
            source_id=None,
            report_key=key,
            match_key=pair_key,
            origin=ChatMessage.Origin.REPORT,
            device=device,
            session=session,
            agent_id=device.agent_id,
            chat_type=report.chat_type,
            created_at=created_at,
            **asdict(parsed),
        )
        if report.audio and settings.HUB_KEEP_AUDIO:
            try:
                store_audio(message_id=message.pk, data=report.audio, content_type="audio/wav")
            except AudioTooLarge:
                logger.warning("report audio of message %s is over HUB_AUDIO_MAX_BYTES", message.pk)
        if session is not None:
            delta = counters.Delta(device_id=device.pk, agent_id=device.agent_id)
            delta.add(created_at, "")
            counters.add_session_deltas({(session.pk, session.session_id): delta})
        device_delta = counters.Delta()
        device_delta.add(created_at, preview(parsed.content))
        counters.add_device_deltas({(device.pk, device.mac): device_delta})
        payload = events.message_payload(
            id=message.pk,
            source_id=None,
            device=device.mac,
            device_pk=device.pk,
            session_id=session.session_id if session else None,
            agent_id=device.agent.agent_id if device.agent_id else None,
            created_at=created_at,
            audio=bool(message_ids_with_audio(message_ids=[message.pk])),
            **asdict(parsed),
        )
        transaction.on_commit(lambda: events.send_chat_updates([payload]))
    return message, True


def _synced_twin(device: Device, pair_key: str, created_at) -> ChatMessage | None:
    """The synced copy of this report, if the sync got there first and no report claimed it.

    Looked up by device and time (index msg_device_time), then by match key.
    """
    window = timedelta(seconds=settings.HUB_REPORT_MATCH_WINDOW)
    candidates = ChatMessage.objects.filter(
        device=device,
        match_key=pair_key,
        origin=ChatMessage.Origin.SYNC,
        report_key__isnull=True,
        created_at__gte=created_at - window,
        created_at__lte=created_at + window,
    )
    return min(candidates, key=lambda m: abs(m.created_at - created_at), default=None)


def sync_request(
    *,
    full: bool = False,
    device: str | None = None,
    session_id: str | None = None,
    source: str | None = None,
) -> dict:
    """Queue a sync now (after the current transaction commits); progress follows on `sync`.

    `source`: one source's key; None: every enabled, configured source.
    """
    from_environment = source_ensure_environment()
    request = {"full": full, "device": device, "session_id": session_id, "source": source}
    if source is not None:
        row = Source.objects.filter(key=source).first()
        if row is None and source == DEFAULT_SOURCE:
            return {**request, "queued": False, "reason": "ESP32_DATABASE_URL is not set"}
        if row is None:
            return {**request, "queued": False, "reason": f"unknown source {source!r}"}
        if not source_configured(row):
            reason = (
                "ESP32_DATABASE_URL is not set"
                if row.from_environment
                else f"source {source!r} has no URL"
            )
            return {**request, "queued": False, "reason": reason}
        keys = [source]
    else:
        keys = [s.key for s in Source.objects.filter(enabled=True) if source_configured(s)]
        if not keys:
            reason = (
                "no source is enabled and configured"
                if from_environment is not None or Source.objects.exists()
                else "ESP32_DATABASE_URL is not set and no source was added"
            )
            return {**request, "queued": False, "reason": reason}
    for key in keys:
        transaction.on_commit(
            lambda key=key: sync_chat_history.delay(
                full=full, device=device, session_id=session_id, trigger="manual", source=key
            )
        )
    return {**request, "sources": keys, "queued": True}
