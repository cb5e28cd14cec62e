"""Reads a xiaozhi-esp32-server through manager-api, its admin REST API.

For a server whose MySQL the hub cannot reach (docs/manager-api-source.md).
The routes, the answer envelope and the authentication are manager-api's own
(Spring Boot, context path `/xiaozhi`; the source's URL is that base, e.g.
https://host/xiaozhi):

* Every answer is `{"code": 0, "msg": "success", "data": ...}`, with HTTP 200
  even for failures: `code` 401 means the token was refused (missing, unknown,
  expired: Shiro's oauth2 filter), any other non-zero code is an error whose
  `msg` says why (500: "No permission to view the chat records of this agent").
* `Authorization: Bearer <token>`: the token of a manager-api login (the
  `sys_user_token` row; it expires 12 hours after the login that made it, and
  a later login extends it). The API has no other non-interactive way in for
  these routes (the server secret only opens /config/** and the report route).
* `GET /agent/list` -> [{id, agentName, ...}]
* `GET /agent/{id}/sessions?page=&limit=` -> {total, list: [{sessionId,
  createdAt, chatCount, title}]}, newest session (by its last message) first.
* `GET /agent/{id}/chat-history/{sessionId}` -> [{createdAt, chatType, content,
  audioId, macAddress}], oldest first; no row id.
* `POST /agent/audio/{audioId}` -> a one-use play id; `GET /agent/play/{id}` ->
  the WAV bytes (no token needed).
* Dates: "yyyy-MM-dd HH:mm:ss", GMT+8.

What a proxy in front adds is handled too: HTTP 429 and 5xx are retried with
bounded exponential backoff and full jitter, honouring Retry-After; every
request has a timeout.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx2
from django.conf import settings

from xiaozhi_hub.masking import mask_text, mask_url

from ..models import Source

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # one session's history or one WAV; bigger is refused
# The server's date pattern (DateUtils.DATE_TIME_PATTERN), and what forks print instead.
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")


# --- errors ------------------------------------------------------------------------------
class ManagerApiError(Exception):
    """The manager-api could not answer this request usefully (the message says why)."""


class TokenRejected(ManagerApiError):
    """The manager-api refused the token (code 401): expired, revoked or wrong."""


class Unavailable(ManagerApiError):
    """Timeouts, connection errors, HTTP 429/5xx still failing after the retries."""


class RateLimited(Unavailable):
    """HTTP 429 (or 503) asking to wait longer than the hub waits within one run."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class BadAnswer(ManagerApiError):
    """An answer that is not the documented shape: malformed JSON, a missing field."""


class ApiRefused(ManagerApiError):
    """A well-formed answer with a non-zero code other than 401."""

    def __init__(self, code: Any, msg: str):
        super().__init__(f"code {code}: {msg}")
        self.code = code


# --- answers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteAgent:
    agent_id: str
    name: str


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    created_at: str  # as the server printed it: compared, never parsed
    chat_count: int
    title: str


@dataclass(frozen=True)
class SessionPage:
    total: int
    sessions: list[SessionInfo]


def source_time_zone() -> tzinfo:
    """The zone of the dates manager-api prints: GMT+8 (its ObjectMapper), unless set."""
    name = settings.HUB_MANAGER_API_TIME_ZONE
    if name and name[0] in "+-":
        sign = -1 if name[0] == "-" else 1
        hours, _, minutes = name[1:].partition(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))
    return ZoneInfo(name)


def parse_date(value: Any, zone: tzinfo) -> datetime | None:
    """A manager-api date as a naive datetime in `zone`; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):  # epoch milliseconds (a fork's default Jackson)
        try:
            return datetime.fromtimestamp(value / 1000, UTC).astimezone(zone).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or len(value) > 40:
        return None
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(zone).replace(tzinfo=None)
    return parsed


# --- the client ---------------------------------------------------------------------------
class ManagerApiClient:
    """A synchronous client of one source's manager-api (used in a Celery task)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        backoff_cap: float | None = None,
        retry_after_max: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx2.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout if timeout is not None else settings.HUB_MANAGER_API_TIMEOUT
        self.retries = retries if retries is not None else settings.HUB_MANAGER_API_RETRIES
        self.backoff = backoff if backoff is not None else settings.HUB_MANAGER_API_BACKOFF
        self.backoff_cap = (
            backoff_cap if backoff_cap is not None else settings.HUB_MANAGER_API_BACKOFF_CAP
        )
        self.retry_after_max = (
            retry_after_max
            if retry_after_max is not None
            else settings.HUB_MANAGER_API_RETRY_AFTER_MAX
        )
        self.sleep = sleep
        self.requests = 0  # sent, retries included (the bench and the tests read it)
        self._count_lock = threading.Lock()
        headers = {
            "Accept": "application/json",
            "Accept-Language": "en-US",  # error messages in English (LocaleResolver)
            "User-Agent": "xiaozhi-hub",
        }
        if token.strip():
            headers["Authorization"] = f"Bearer {token.strip()}"
        self._client = httpx2.Client(
            timeout=httpx2.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            headers=headers,
            follow_redirects=False,
            transport=transport,
        )

    @classmethod
    def for_source(cls, source: Source, **options) -> ManagerApiClient:
        return cls(source.url, source.token, **options)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ManagerApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the routes ---------------------------------------------------------------------
    def agents(self) -> list[RemoteAgent]:
        data = self._call("GET", "/agent/list")
        if not isinstance(data, list):
            raise BadAnswer("the agent list is not a list")
        agents = []
        for item in data:
            if not isinstance(item, dict) or not _short_text(item.get("id"), 32):
                raise BadAnswer("an agent without a usable id")
            name = item.get("agentName")
            agents.append(RemoteAgent(item["id"], name if isinstance(name, str) else ""))
        return agents

    def sessions(self, agent_id: str, *, page: int, limit: int) -> SessionPage:
        data = self._call(
            "GET", f"/agent/{_segment(agent_id)}/sessions", params={"page": page, "limit": limit}
        )
        if not isinstance(data, dict) or not isinstance(data.get("list"), list):
            raise BadAnswer("the session page has no list")
        total = data.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise BadAnswer("the session page has no usable total")
        sessions = []
        for item in data["list"]:
            if not isinstance(item, dict) or not _short_text(item.get("sessionId"), 100):
                raise BadAnswer("a session without a usable sessionId")
            count = item.get("chatCount")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise BadAnswer(f"session {item['sessionId']!r} has no usable chatCount")
            created = item.get("createdAt")
            title = item.get("title")
            sessions.append(
                SessionInfo(
                    session_id=item["sessionId"],
                    created_at=str(created)[:40] if created is not None else "",
                    chat_count=count,
                    title=title[:255] if isinstance(title, str) else "",
                )
            )
        return SessionPage(total, sessions)

    def chat_history(self, agent_id: str, session_id: str) -> list[dict]:
        """The session's messages as the server sent them (dicts), oldest first."""
        data = self._call("GET", f"/agent/{_segment(agent_id)}/chat-history/{_segment(session_id)}")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise BadAnswer(f"the history of session {session_id!r} is not a list of messages")
        return data

    def audio(self, audio_id: str) -> bytes | None:
        """A message's WAV, or None when the server has none (two requests: a play id, then
        the bytes)."""
        try:
            play_id = self._call("POST", f"/agent/audio/{_segment(audio_id)}")
        except ApiRefused:
            return None  # "Audio does not exist"
        if not _short_text(play_id, 100):
            raise BadAnswer("the audio play id is not text")
        response = self._send("GET", f"/agent/play/{_segment(play_id)}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BadAnswer(f"HTTP {response.status_code} for the audio of {audio_id!r}")
        return response.content

    # --- one request, its retries, its envelope ---------------------------------------
    def _call(self, method: str, route: str, *, params: dict | None = None) -> Any:
        response = self._send(method, route, params=params)
        if response.status_code == 401:
            raise TokenRejected(f"HTTP 401 from {self._where(route)}")
        if response.status_code != 200:
            raise BadAnswer(f"HTTP {response.status_code} from {self._where(route)}")
        try:
            body = json.loads(response.content)
        except (UnicodeDecodeError, ValueError):
            raise BadAnswer(f"malformed JSON from {self._where(route)}") from None
        if not isinstance(body, dict) or "code" not in body:
            raise BadAnswer(f"not a manager-api answer ({{code, msg, data}}) from {route}")
        code, msg = body.get("code"), body.get("msg")
        msg = mask_text(msg[:500]) if isinstance(msg, str) else ""
        if code == 401:
            raise TokenRejected(msg or "code 401")
        if code != 0:
            raise ApiRefused(code, msg)
        return body.get("data")

    def _send(self, method: str, route: str, *, params: dict | None = None) -> httpx2.Response:
        url = self.base_url + route
        attempt = 0
        while True:
            with self._count_lock:  # requests run in several threads (sync/manager_api.py)
                self.requests += 1
            try:
                response = self._client.request(method, url, params=params)
                if len(response.content) > MAX_ANSWER_BYTES:
                    raise BadAnswer(f"an answer over {MAX_ANSWER_BYTES} bytes from {route}")
            except httpx2.LocalProtocolError as exc:  # nothing was sent: a retry cannot help
                raise ManagerApiError(
                    f"the request to {self._where(route)} could not be sent "
                    f"({type(exc).__name__}): check the source's URL and token"
                ) from None
            except httpx2.TimeoutException:
                problem, wait = f"timed out after {self.timeout:g} s", None
            except httpx2.TransportError as exc:
                problem, wait = f"connection failed ({type(exc).__name__})", None
            else:
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.retry_after_max:
                    raise RateLimited(
                        f"{problem} from {self._where(route)}: the server asks to wait "
                        f"{wait:.0f} s",
                        wait,
                    )
            if attempt >= self.retries:
                raise Unavailable(f"{problem} from {self._where(route)} ({attempt + 1} tries)")
            if wait is None:  # full jitter: uniform over [0, min(cap, base * 2^attempt)]
                wait = random.uniform(0, min(self.backoff_cap, self.backoff * 2**attempt))
            logger.info("manager-api %s: %s; retry in %.1f s", self._where(route), problem, wait)
            self.sleep(wait)
            attempt += 1

    def _where(self, route: str) -> str:
        return mask_url(self.base_url) + route


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _segment(value: str) -> str:
    """One path segment, escaped: ids come from the remote server and are not trusted."""
    return quote(value, safe="")


def _short_text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit
