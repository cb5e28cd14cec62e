"""What a notification says: the event as callers describe it (`Notification`), and the
text one channel sends (`Message`), in that channel's language.

Callers never put a secret in a title or body; the rendered text is masked once
more all the same, so a token that slipped into an error message stays out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

from django.conf import settings

from xiaozhi_hub.masking import mask_text

EVENTS = ("firing", "resolved", "reminder", "test")
SEVERITIES = ("info", "warning", "critical")  # least to most severe
LANGUAGES = ("zh-hans", "en")

EVENT_WORDS = {
    "zh-hans": {"firing": "告警", "resolved": "已恢复", "reminder": "提醒", "test": "测试"},
    "en": {"firing": "Firing", "resolved": "Resolved", "reminder": "Reminder", "test": "Test"},
}
SEVERITY_WORDS = {
    "zh-hans": {"critical": "严重", "warning": "警告", "info": "信息"},
    "en": {"critical": "Critical", "warning": "Warning", "info": "Info"},
}
DETAILS_WORD = {"zh-hans": "详情", "en": "Details"}


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Notification:
    event: str  # "firing" | "resolved" | "reminder" | "test"
    key: str  # the incident, e.g. "alert:42"
    severity: str  # "critical" | "warning" | "info"
    title: dict[str, str]  # {"en": ..., "zh-hans": ...}
    body: dict[str, str]  # same languages; never a secret
    url: str = ""  # path of the console/admin page about it (made absolute with HUB_PUBLIC_URL)

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"notification event must be one of {EVENTS}, got {self.event!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"notification severity must be one of {SEVERITIES}, got {self.severity!r}"
            )
        if not self.title:
            raise ValueError("a notification needs a title in at least one language")

    def as_dict(self) -> dict:
        """JSON-ready (a Celery task argument)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Notification:
        return cls(**data)


@dataclass(frozen=True)
class Message:
    """One notification as one channel sends it."""

    language: str
    subject: str  # "[告警 · 严重] title": the title line, the email subject
    text: str  # the body, then the link
    notification: Notification
    title: str  # the caller's title and body in this language, for the JSON webhook
    body: str
    url: str  # absolute when HUB_PUBLIC_URL is set
    sent_at: str

    def webhook_json(self) -> dict:
        """The JSON body of the generic webhook (docs/notifications.md)."""
        return {
            "event": self.notification.event,
            "key": self.notification.key,
            "severity": self.notification.severity,
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "sent_at": self.sent_at,
            "language": self.language,
        }


def _in_language(texts: dict[str, str], language: str) -> str:
    """The text in `language`; else English; else whichever there is."""
    for candidate in (language, "en", *texts):
        if texts.get(candidate):
            return texts[candidate]
    return ""


def absolute_url(path: str) -> str:
    base = settings.HUB_PUBLIC_URL
    if not path or not base:
        return path
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def render(notification: Notification, language: str) -> Message:
    """The text for a channel whose language is `language` ("zh-hans" or "en")."""
    language = language if language in LANGUAGES else "en"
    title = mask_text(_in_language(notification.title, language))
    body = mask_text(_in_language(notification.body, language))
    event = EVENT_WORDS[language][notification.event]
    severity = SEVERITY_WORDS[language][notification.severity]
    url = absolute_url(notification.url)
    lines = [body] if body else []
    if url:
        lines.append(f"{DETAILS_WORD[language]}: {url}")
    return Message(
        language=language,
        subject=f"[{event} · {severity}] {title}",
        text="\n\n".join(lines),
        notification=notification,
        title=title,
        body=body,
        url=url,
        sent_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
