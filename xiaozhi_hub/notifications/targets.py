"""Where a channel delivers: the settings each kind needs, their validation, the Apprise
URL built from them, and the masked description shown instead of them.

A channel's target is a small dict stored encrypted (`NotificationChannel.target`):

    webhook   {"url": "https://..."}
    email     {"recipients": ["ops@example.com", ...]}
    dingtalk  {"url": robot webhook URL or access token, "secret": 加签 secret (optional)}
    feishu    {"url": Feishu or Lark custom-bot webhook URL}
    wecom     {"url": group-robot webhook URL or key}
    telegram  {"bot_token": "123456:ABC...", "chat_id": "-100123" or "@channel"}
    apprise   {"url": any Apprise URL}

Validation is Apprise's own: the URL built from the settings must load in Apprise.
Error messages name the field and the expected shape, never the value.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import apprise
from apprise.plugins.dingtalk import NotifyDingTalk
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MASK = "***"

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url",),
    "email": ("recipients",),
    "dingtalk": ("url", "secret"),
    "feishu": ("url",),
    "wecom": ("url",),
    "telegram": ("bot_token", "chat_id"),
    "apprise": ("url",),
}
OPTIONAL_FIELDS = {("dingtalk", "secret")}
# Credentials: write-only in forms, never shown back.
SECRET_FIELDS = ("url", "secret", "bot_token")
APPRISE_KINDS = ("dingtalk", "feishu", "wecom", "telegram", "apprise")

_DINGTALK_URL = re.compile(r"^https://oapi\.dingtalk\.com/robot/send\?")
_ROBOT_HOOK = re.compile(
    r"^https://open\.(?P<site>feishu\.cn|larksuite\.com)/open-apis/bot/v2/hook/(?P<token>[\w-]+)/?$"
)
_WECOM_URL = re.compile(r"^https://qyapi\.weixin\.qq\.com/cgi-bin/webhook/send\?")
_BARE_TOKEN = re.compile(r"^[\w-]+$")

EXPECTED = {
    ("webhook", "url"): _("an http:// or https:// URL"),
    ("email", "recipients"): _("email addresses, separated by commas"),
    ("dingtalk", "url"): _(
        "the robot's Webhook URL (https://oapi.dingtalk.com/robot/send?access_token=...) "
        "or its access token"
    ),
    ("dingtalk", "secret"): _("the robot's 加签 secret (SEC followed by letters and digits)"),
    ("feishu", "url"): _(
        "the bot's webhook URL (https://open.feishu.cn/open-apis/bot/v2/hook/... or "
        "https://open.larksuite.com/open-apis/bot/v2/hook/...)"
    ),
    ("wecom", "url"): _(
        "the group robot's Webhook URL "
        "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...) or its key"
    ),
    ("telegram", "bot_token"): _("the bot token from @BotFather (digits, ':', letters)"),
    ("telegram", "chat_id"): _("a chat id (-100123..., 12345) or a @channel name"),
    ("apprise", "url"): _("a URL Apprise supports (https://appriseit.com/services/)"),
}

# Apprise logs a refused token as it is ("Invalid ... Token (xyz)"): its lines stay out of
# the hub's log. Delivery reports failures itself, redacted (senders.py).
APPRISE_LOG = logging.getLogger("apprise")
APPRISE_LOG.propagate = False
APPRISE_LOG.addHandler(logging.NullHandler())


def _query_value(url: str, name: str) -> str:
    return (parse_qs(urlsplit(url).query).get(name) or [""])[0]


def _robot_token(url: str, pattern: re.Pattern, param: str) -> str | None:
    """The token of a robot webhook URL (or the token given on its own); None if neither."""
    if pattern.match(url):
        token = _query_value(url, param)
    else:
        token = url
    return token if _BARE_TOKEN.match(token or "") else None


def apprise_url(kind: str, target: dict, *, timeout: float) -> str | None:
    """The Apprise URL for a channel of `kind` (None when the settings cannot make one).

    `timeout` (seconds) bounds connecting and reading, per request.
    """
    url = target.get("url", "")
    if kind == "dingtalk":
        token = _robot_token(url, _DINGTALK_URL, "access_token")
        if token is None:
            return None
        secret = target.get("secret", "")
        built = f"dingtalk://{secret}@{token}/" if secret else f"dingtalk://{token}/"
    elif kind == "feishu":
        match = _ROBOT_HOOK.match(url)
        if match:
            scheme = "feishu" if match["site"] == "feishu.cn" else "lark"
            built = f"{scheme}://{match['token']}"
        elif _BARE_TOKEN.match(url or ""):
            built = f"feishu://{url}"
        else:
            return None
    elif kind == "wecom":
        key = _robot_token(url, _WECOM_URL, "key")
        if key is None:
            return None
        built = f"wecombot://{key}"
    elif kind == "telegram":
        token = target.get("bot_token", "").removeprefix("bot")
        chat = target.get("chat_id", "")
        if not token or not chat or any(c in token + chat for c in "/ ,"):
            return None
        built = f"tgram://{token}/{chat}?detect=no"  # never guess the chat
    elif kind == "apprise":
        built = url
    else:
        return None
    query = urlencode({"cto": timeout, "rto": timeout})
    return built + ("&" if "?" in built else "?") + query


class _DingTalkSignedOnce(NotifyDingTalk):
    """Apprise (2.3) URL-quotes the 加签 signature, then passes it to requests as a
    query parameter, which quotes it again: DingTalk, decoding once, answers "sign not
    match". Hand requests the plain signature; it quotes it once."""

    def get_signature(self):
        timestamp, signature = super().get_signature()
        return timestamp, unquote(signature)


def load(url: str):
    """The Apprise plugin instance for `url`, or None."""
    plugin = apprise.Apprise.instantiate(url)
    if isinstance(plugin, NotifyDingTalk) and plugin.secret:
        plugin = _DingTalkSignedOnce(**NotifyDingTalk.parse_url(url))
    return plugin


def validate_target(kind: str, target: dict) -> None:
    """Raise ValidationError keyed by field when `target` cannot deliver for `kind`."""
    if kind not in KIND_FIELDS:
        raise ValidationError({"kind": gettext("unknown channel kind %(kind)r") % {"kind": kind}})
    errors: dict[str, str] = {}
    for field in KIND_FIELDS[kind]:
        if not target.get(field) and (kind, field) not in OPTIONAL_FIELDS:
            errors[field] = gettext("Required for this kind: %(expected)s.") % {
                "expected": EXPECTED[(kind, field)]
            }
    if errors:
        raise ValidationError(errors)

    def refuse(field: str) -> None:
        errors[field] = gettext("Not valid: expected %(expected)s.") % {
            "expected": EXPECTED[(kind, field)]
        }

    if kind == "webhook":
        try:
            URLValidator(schemes=("http", "https"))(target["url"])
        except ValidationError:
            refuse("url")
    elif kind == "email":
        try:
            for address in target["recipients"]:
                validate_email(address)
        except ValidationError:
            refuse("recipients")
    else:
        built = apprise_url(kind, target, timeout=1)
        plugin = load(built) if built else None
        # Telegram drops a malformed chat id and would ask the bot for one: refuse instead.
        if plugin is None or (kind == "telegram" and not plugin.targets):
            # Say which field is wrong when the shape tells; else the whole target.
            if (
                kind == "dingtalk"
                and target.get("secret")
                and _robot_token(target["url"], _DINGTALK_URL, "access_token")
            ):
                refuse("secret")
            elif kind == "telegram" and not re.match(r"^(bot)?\d+:[\w-]+$", target["bot_token"]):
                refuse("bot_token")
            elif kind == "telegram":
                refuse("chat_id")
            else:
                refuse("url")
    if errors:
        raise ValidationError(errors)


def secret_values(target: dict) -> list[str]:
    """Every stored value and token inside it, longest first: the strings an error text
    must not contain."""
    values = set()
    for field in SECRET_FIELDS + ("chat_id",):
        value = target.get(field) or ""
        if value:
            values.add(value)
            parts = urlsplit(value)
            values.update(v for vs in parse_qs(parts.query).values() for v in vs)
            values.update(p for p in parts.path.split("/") if len(p) >= 8)
    return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)


def redact(text: str, target: dict) -> str:
    for value in secret_values(target):
        text = text.replace(value, MASK)
    return text


def _mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}{MASK}@{domain}"


def describe_target(kind: str, target: dict) -> str:
    """Where the channel delivers, with every credential masked: safe for any page."""
    url = target.get("url", "")
    if kind == "webhook":
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}/{MASK}" if url else ""
    if kind == "email":
        return ", ".join(_mask_email(a) for a in target.get("recipients", []))
    if kind == "dingtalk":
        signed = ", 加签 secret " + MASK if target.get("secret") else ""
        return f"DingTalk robot access_token={MASK}{signed}"
    if kind == "feishu":
        return f"{'Lark' if 'larksuite' in url else 'Feishu'} bot hook/{MASK}"
    if kind == "wecom":
        return f"WeCom group robot key={MASK}"
    if kind == "telegram":
        return f"Telegram bot {MASK}, chat {MASK}"
    if kind == "apprise":
        return f"{urlsplit(url).scheme}://{MASK}" if url else ""
    return ""
