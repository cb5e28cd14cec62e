"""A local manager-api (xiaozhi-esp32-server's Java admin API) for the REST source's tests.

A real HTTP server in a thread, reproducing what the hub's client relies on, as
manager-api's source has it (main/manager-api, Spring Boot, context path /xiaozhi):

* Every JSON answer is `Result<T>`: `{"code": 0, "msg": "success", "data": ...}`;
  a failure keeps HTTP 200 and carries the code: 401 when the Shiro `oauth2`
  filter refuses the request (no `Authorization: Bearer <token>` header, an
  unknown token, an expired one: `Oauth2Filter.onAccessDenied` / `onLoginFailure`
  always answer `error(ErrorCode.UNAUTHORIZED)`), 500 for a service error
  (`Result.error(String)`: "No permission to view the chat records of this agent").
* `GET /agent/list` -> `data: [AgentDTO]` (id, agentName, ... not paged).
* `GET /agent/{id}/sessions?page=&limit=` -> `data: PageData {total, list}` of
  `AgentChatSessionDTO {sessionId, createdAt, chatCount, title}`: one entry per
  session id of the agent, `createdAt` = MAX(created_at), `chatCount` = COUNT(*),
  newest (by that MAX) first; `page` starts at 1; both parameters are required
  (missing: the NumberFormatException becomes code 500).
* `GET /agent/{id}/chat-history/{sessionId}` -> `data: [AgentChatHistoryDTO]`
  `{createdAt, chatType, content, audioId, macAddress}` ordered by created_at
  ascending; no row id is exposed.
* Dates are `yyyy-MM-dd HH:mm:ss` (WebMvcConfig's ObjectMapper, time zone GMT+8).
* Audio: `POST /agent/audio/{audioId}` -> `data: "<uuid>"` (or code 500 "Audio
  does not exist"); `GET /agent/play/{uuid}` (anonymous, single use) -> the WAV
  bytes as application/octet-stream, HTTP 404 once used or unknown.

What a reverse proxy adds (HTTP 429 with Retry-After, 502/503, slow answers,
broken bodies) is injected per test through the `faults` attributes.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CONTEXT = "/xiaozhi"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
UNAUTHORIZED_MSG = "未授权"  # MessageUtils.getMessage(401) in the zh_CN bundle


@dataclass
class Message:
    created_at: datetime  # naive, GMT+8 wall time (as the server renders it)
    chat_type: int
    content: str
    mac: str | None
    audio_id: str | None = None


@dataclass
class Faults:
    """What the next requests suffer. Path patterns are regular expressions (re.search)."""

    # [(pattern, status, retry_after or None, remaining count)]
    statuses: list = field(default_factory=list)
    delays: dict = field(default_factory=dict)  # pattern -> seconds
    bodies: dict = field(default_factory=dict)  # pattern -> raw body (HTTP 200)
    results: dict = field(default_factory=dict)  # pattern -> (code, msg) Result error


class ManagerApiServer:
    """The fake server: agents, sessions and messages in memory; `requests` logs every call."""

    def __init__(self, tokens: tuple[str, ...] = ("good-token",)):
        self.tokens = set(tokens)
        self.agents: dict[str, str] = {}  # id -> agentName (in insertion order)
        self.owned: set[str] = set()  # agents the token's user may read (default: all)
        self.history: dict[tuple[str, str], list[Message]] = defaultdict(list)
        self.titles: dict[str, str] = {}
        self.audio: dict[str, bytes] = {}
        self.play_ids: dict[str, str] = {}
        self.faults = Faults()
        self.requests: list[tuple[float, str, str, str]] = []  # (time, method, path, token)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- data --------------------------------------------------------------------
    def add_agent(self, agent_id: str, name: str, *, owned: bool = True) -> None:
        self.agents[agent_id] = name
        if owned:
            self.owned.add(agent_id)

    def add_message(self, agent_id: str, session_id: str, message: Message) -> None:
        with self._lock:
            self.history[(agent_id, session_id)].append(message)

    def expire(self, token: str) -> None:
        self.tokens.discard(token)

    def fail(self, pattern: str, status: int, *, times: int = 1, retry_after=None) -> None:
        self.faults.statuses.append([pattern, status, retry_after, times])

    def calls(self, pattern: str) -> list[tuple[float, str, str, str]]:
        return [r for r in self.requests if re.search(pattern, r[2])]

    # --- lifecycle -----------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{CONTEXT}"

    def start(self) -> ManagerApiServer:
        server = self

        class Handler(_Handler):
            api = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ManagerApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the routes ------------------------------------------------------------------
    def sessions(self, agent_id: str) -> list[dict]:
        with self._lock:
            rows = [
                (sid, msgs) for (aid, sid), msgs in self.history.items() if aid == agent_id and msgs
            ]
        listed = [
            {
                "sessionId": sid,
                "createdAt": max(m.created_at for m in msgs).strftime(DATE_FORMAT),
                "chatCount": len(msgs),
                "title": self.titles.get(sid),
            }
            for sid, msgs in rows
        ]
        listed.sort(key=lambda s: s["createdAt"], reverse=True)  # ORDER BY MAX(created_at) DESC
        return listed

    def chat_history(self, agent_id: str, session_id: str) -> list[dict]:
        with self._lock:
            messages = list(self.history.get((agent_id, session_id), []))
        messages.sort(key=lambda m: m.created_at)  # ORDER BY created_at (stable: id order)
        return [
            {
                "createdAt": m.created_at.strftime(DATE_FORMAT),
                "chatType": m.chat_type,
                "content": m.content,
                "audioId": m.audio_id,
                "macAddress": m.mac,
            }
            for m in messages
        ]


def ok(data) -> dict:
    return {"code": 0, "msg": "success", "data": data}


def error(code: int, msg: str) -> dict:
    return {"code": code, "msg": msg, "data": None}


class _Handler(BaseHTTPRequestHandler):
    api: ManagerApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once (no delayed-ACK stalls)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    # --- plumbing -------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        authorization = self.headers.get("Authorization") or ""
        token = authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else ""
        self.api.requests.append((time.monotonic(), method, parts.path, token))
        for pattern, seconds in list(self.api.faults.delays.items()):
            if re.search(pattern, path):
                time.sleep(seconds)
        for fault in self.api.faults.statuses:
            pattern, status, retry_after, remaining = fault
            if remaining > 0 and re.search(pattern, path):
                fault[3] -= 1
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                body = b"<html><body><h1>%d</h1></body></html>" % status
                return self._send(status, body, "text/html", headers)
        if "%2f" in parts.path.lower():  # Tomcat refuses an encoded slash in a path
            return self._send(400, b"<html><body>Bad Request</body></html>", "text/html")
        if not path.startswith(CONTEXT + "/"):
            return self._json(404, {"status": 404, "error": "Not Found", "path": path})
        route = path[len(CONTEXT) :]
        play = re.fullmatch(r"/agent/play/([^/]+)", route)
        if method == "GET" and play:  # filterMap "/agent/play/**" -> anon
            return self._play(play.group(1))
        if not token or token not in self.api.tokens:
            # Oauth2Filter: HTTP 200, Result code 401 (no token, unknown or expired token).
            return self._json(200, error(401, UNAUTHORIZED_MSG))
        for pattern, body in self.api.faults.bodies.items():
            if re.search(pattern, route):
                return self._send(200, body.encode("utf-8"), "application/json;charset=utf-8")
        for pattern, (code, msg) in self.api.faults.results.items():
            if re.search(pattern, route):
                return self._json(200, error(code, msg))
        query = parse_qs(parts.query)
        if method == "GET" and route == "/agent/list":
            owned = [a for a in self.api.agents if a in self.api.owned]
            return self._json(200, ok([_agent_dto(a, self.api.agents[a]) for a in owned]))
        sessions = re.fullmatch(r"/agent/([^/]+)/sessions", route)
        if method == "GET" and sessions:
            return self._sessions(sessions.group(1), query)
        history = re.fullmatch(r"/agent/([^/]+)/chat-history/([^/]+)", route)
        if method == "GET" and history:
            agent_id, session_id = history.groups()
            if agent_id not in self.api.owned:
                msg = "No permission to view the chat records of this agent"
                return self._json(200, error(500, msg))
            return self._json(200, ok(self.api.chat_history(agent_id, session_id)))
        audio = re.fullmatch(r"/agent/audio/([^/]+)", route)
        if method == "POST" and audio:
            if audio.group(1) not in self.api.audio:
                return self._json(200, error(500, "Audio does not exist"))
            play_id = str(uuid.uuid4())
            self.api.play_ids[play_id] = audio.group(1)
            return self._json(200, ok(play_id))
        return self._json(404, {"status": 404, "error": "Not Found", "path": path})

    def _sessions(self, agent_id: str, query: dict) -> None:
        try:
            page = int(query["page"][0])
            limit = int(query["limit"][0])
        except (KeyError, ValueError):
            return self._json(200, error(500, "服务器内部异常"))
        listed = self.api.sessions(agent_id)
        page = max(page, 1)  # mybatis-plus treats page < 1 as the first page
        chunk = listed[(page - 1) * limit : page * limit] if limit > 0 else listed
        return self._json(200, ok({"total": len(listed), "list": chunk}))

    def _play(self, play_id: str) -> None:
        audio_id = self.api.play_ids.pop(play_id, None)
        if audio_id is None or audio_id not in self.api.audio:
            return self._send(404, b"", "text/plain")
        headers = {"Content-Disposition": 'attachment; filename="play.wav"'}
        return self._send(200, self.api.audio[audio_id], "application/octet-stream", headers)

    def _json(self, status: int, payload) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json;charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, headers=None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


def _agent_dto(agent_id: str, name: str) -> dict:
    return {
        "id": agent_id,
        "agentName": name,
        "ttsModelName": "TTS_EdgeTTS",
        "ttsVoiceName": "xiaoxiao",
        "llmModelName": "LLM_ChatGLMLLM",
        "vllmModelName": None,
        "memModelId": "Memory_nomem",
        "systemPrompt": "",
        "summaryMemory": None,
        "lastConnectedAt": None,
        "deviceCount": 1,
        "tags": [],
    }
