"""One delivery attempt of a rendered message to one target: Apprise for the services,
Django's mail for email, a plain HTTP POST of JSON for the webhook.

Each attempt is bounded by the timeout and raises DeliveryError with a reason that
holds none of the target's secrets.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager

import apprise
from django.conf import settings
from django.core.mail import get_connection, send_mail

from xiaozhi_hub.masking import mask_text

from .message import Message
from .targets import APPRISE_LOG, apprise_url, load, redact

NOTIFY_TYPES = {
    "critical": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}
MAX_ERROR_CHARS = 500


class DeliveryError(Exception):
    """A failed attempt; its text is safe to store and show."""


class _ThreadLines(logging.Handler):
    """Apprise's warnings raised by this thread only (deliveries may run side by side)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


@contextmanager
def _apprise_warnings():
    handler = _ThreadLines()
    APPRISE_LOG.addHandler(handler)
    try:
        yield handler.lines
    finally:
        APPRISE_LOG.removeHandler(handler)


def _send_apprise(kind: str, target: dict, message: Message, timeout: float) -> None:
    plugin = load(apprise_url(kind, target, timeout=timeout) or "")
    if plugin is None:
        raise DeliveryError("the channel's settings are no longer valid: edit and save it")
    with _apprise_warnings() as warnings:
        sent = plugin.notify(
            body=message.text or message.subject,
            title=message.subject,
            notify_type=NOTIFY_TYPES[message.notification.severity],
            body_format=apprise.NotifyFormat.TEXT,
        )
    if not sent:
        raise DeliveryError(" ".join(warnings) or f"{plugin.service_name} refused the message")


def _send_webhook(target: dict, message: Message, timeout: float) -> None:
    request = urllib.request.Request(
        target["url"],
        data=json.dumps(message.webhook_json(), ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "xiaozhi-hub"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the webhook answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"the webhook could not be reached: {reason}") from None


def _send_email(target: dict, message: Message, timeout: float) -> None:
    try:
        send_mail(
            subject=message.subject,
            message=message.text or message.subject,
            from_email=None,  # DEFAULT_FROM_EMAIL
            recipient_list=target["recipients"],
            connection=get_connection(timeout=timeout),
        )
    except Exception as exc:  # noqa: BLE001 - smtplib and socket errors alike are a failed attempt
        raise DeliveryError(f"email could not be sent: {type(exc).__name__}: {exc}") from None


def send(kind: str, target: dict, message: Message) -> None:
    """Deliver `message` once; raise DeliveryError (redacted) when it did not arrive."""
    timeout = float(settings.HUB_NOTIFY_TIMEOUT)
    try:
        if kind == "webhook":
            _send_webhook(target, message, timeout)
        elif kind == "email":
            _send_email(target, message, timeout)
        else:
            _send_apprise(kind, target, message, timeout)
    except DeliveryError as exc:
        text = mask_text(redact(str(exc), target))
        raise DeliveryError(text[:MAX_ERROR_CHARS]) from None
