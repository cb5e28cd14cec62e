"""The report-mirror proxy of docker-compose.esp32.yml, run with a real nginx.

The server's core takes all its configuration from manager-api, so it cannot be
pointed at the hub itself (docs/deploy.md, "Real-time reports"). The proxy
stands in for manager-api: every request reaches manager-api and its answer
goes back to the core, and a copy of each chat-history report reaches the hub.
nginx's config is the one Docker Compose renders from the override; manager-api
(a Java service, not on this machine) is stood in for by a small HTTP server
that answers like it and records what it gets; the hub is the real one.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chathistory.models import ChatMessage
from tests.services import REQUIRE_SERVICES, free_port, start, stop, wait_for_port

from .compose import BOTH, FILLED, resolved

NGINX = "/usr/sbin/nginx"
SECRET = "server-secret-of-the-core"
REPORT = "/xiaozhi/agent/chat-history/report"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def nginx_installed():
    if not shutil.which(NGINX):
        reason = f"{NGINX} is not installed (make setup installs Debian's nginx as root)"
        if REQUIRE_SERVICES:
            pytest.fail(f"HUB_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)


class ManagerApi(ThreadingHTTPServer):
    """Answers every call the way manager-api does, and keeps what it was sent."""

    def __init__(self):
        self.received: list[tuple[str, str, str, bytes]] = []
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            auth = self.headers.get("Authorization", "")
            self.server.received.append((self.command, self.path, auth, body))
            answer = json.dumps({"code": 0, "msg": "success", "data": "from manager-api"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args):
            pass


@pytest.fixture
def manager_api():
    server = ManagerApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def mirror_config(tmp_path: Path, manager_port: int) -> str:
    """The nginx config Docker Compose writes into the report-mirror container."""
    model = resolved(
        BOTH,
        tmp_path,
        **FILLED,
        ESP32_DATABASE_URL="mysql://r:pw@db:3306/s",
        ESP32_MANAGER_API=f"127.0.0.1:{manager_port}",
        COMPOSE_PROFILES="report-mirror",
    )
    service = model["services"]["report-mirror"]
    assert service["configs"] == [
        {"source": "report-mirror", "target": "/etc/nginx/conf.d/default.conf"}
    ]
    assert service["networks"]["esp32"] == {"aliases": ["xiaozhi-hub-mirror"]}
    # `config` prints a model that can be read again, so `$` comes out as `$$`;
    # in the container the file holds `$`.
    return model["configs"]["report-mirror"]["content"].replace("$$", "$")


@pytest.fixture
def run_mirror(tmp_path, manager_api, process_log_dir):
    """run_mirror(hub_port) -> the port of nginx running the override's config."""
    processes = []

    def run(hub_port: int) -> int:
        port = free_port()
        server = mirror_config(tmp_path, manager_api.server_address[1])
        assert "listen 8002;" in server and "set $hub http://xiaozhi-hub:8000;" in server
        server = server.replace("listen 8002;", f"listen 127.0.0.1:{port};")
        server = server.replace("xiaozhi-hub:8000", f"127.0.0.1:{hub_port}")
        root = tmp_path / "nginx"
        root.mkdir(exist_ok=True)
        (root / "nginx.conf").write_text(
            f"user root;\nworker_processes 1;\npid {root}/nginx.pid;\n"
            f"error_log {process_log_dir}/nginx.log info;\nevents {{}}\n"
            f"http {{\naccess_log {process_log_dir}/nginx-access.log;\n"
            f"client_body_temp_path {root}/body;\nproxy_temp_path {root}/proxy;\n"
            f"{server}\n}}\n"
        )
        args = [NGINX, "-p", str(root), "-e", str(process_log_dir / "nginx.log")]
        args += ["-c", str(root / "nginx.conf"), "-g", "daemon off;"]
        process = start(args, {"PATH": "/usr/sbin:/usr/bin:/bin"}, process_log_dir / "start.log")
        processes.append(process)
        wait_for_port(port, timeout=10, process=process)
        return port

    yield run
    for process in processes:
        stop(process)


def post(port: int, path: str, body: dict) -> tuple[int, dict, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        method="POST",
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status, json.load(response), time.monotonic() - started


def chat_report(content: str, **extra) -> dict:
    return {
        "macAddress": "aa:bb:cc:dd:ee:77",
        "sessionId": "mirror-session",
        "chatType": 1,
        "content": content,
        "reportTime": int(time.time()),  # the core sends seconds
        **extra,
    }


def wait_for_message(content: str, timeout: float = 10) -> ChatMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ChatMessage.objects.filter(content=content).first()
        if message is not None:
            return message
        time.sleep(0.1)
    raise AssertionError(f"the hub never stored {content!r}")


def test_reports_reach_manager_api_and_a_copy_reaches_the_hub(
    live_server, settings, manager_api, run_mirror
):
    settings.HUB_REPORT_SECRET = SECRET
    port = run_mirror(int(live_server.url.rsplit(":", 1)[1]))
    # 40 s of 16 kHz speech as the core sends it: a 1.7 MB body, past nginx's default 1 MB.
    audio = base64.b64encode(b"RIFF" + bytes(1_280_000)).decode()
    sent = chat_report("今天天气怎么样", audioBase64=audio)

    status, answer, _ = post(port, REPORT, sent)

    assert (status, answer["data"]) == (200, "from manager-api")  # the core's answer
    method, path, auth, body = manager_api.received[0]
    assert (method, path, auth, json.loads(body)) == ("POST", REPORT, f"Bearer {SECRET}", sent)
    message = wait_for_message("今天天气怎么样")
    assert (message.origin, message.role, message.device.mac) == (
        "report",
        "user",
        "aa:bb:cc:dd:ee:77",
    )

    # Everything else is manager-api's alone: the core's configuration, for one.
    status, answer, _ = post(port, "/xiaozhi/config/server-base", {})
    assert (status, answer["data"]) == (200, "from manager-api")
    assert manager_api.received[-1][1] == "/xiaozhi/config/server-base"
    assert ChatMessage.objects.count() == 1


def test_a_hub_that_is_down_never_holds_up_the_core(manager_api, run_mirror):
    port = run_mirror(free_port())  # nothing listens where the hub should be

    status, answer, took = post(port, REPORT, chat_report("hub down"))

    assert (status, answer["data"]) == (200, "from manager-api")
    assert took < 2
    assert [path for _, path, _, _ in manager_api.received] == [REPORT]
