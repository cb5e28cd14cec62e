"""One-process mode (`runhub` without Redis): the hub's own requests reach its pool, but
`endpoint_reconnect` and `endpoints_check` from a second terminal cannot - and say so
with a non-zero exit instead of printing that something was sent."""

from __future__ import annotations

import subprocess
import sys

from tests.endpoints.conftest import SECRET_MARK, secret_token, wait_until
from tests.endpoints.test_pool_processes import connected, runhub_with_api
from tests.services import REPO, hub_env

UNREACHABLE = "This process cannot reach the endpoint pool"


def second_terminal(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`manage.py <args>` as a newcomer runs it next to `runhub` (same data dir, no Redis)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=hub_env(HUB_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_commands_from_another_process_fail_honestly_in_one_process_mode(
    tmp_path, process_log_dir, peer_thread
):
    peer = peer_thread.peer()
    token = secret_token("one-process")
    with runhub_with_api(tmp_path, process_log_dir / "runhub.log") as api:
        code, created = api("POST", "/api/endpoints", {"name": "desk", "url": peer.url(token)})
        assert code == 201, created
        wait_until(lambda: connected(peer, token), timeout=15, message="hub never connected")
        # The hub's own process reaches its pool: a check through its API answers.
        code, report = api("POST", f"/api/endpoints/{created['id']}/check")
        assert code == 200 and report["results"][0]["ok"], report

        reconnect = second_terminal(tmp_path, "endpoint_reconnect", "desk")
        assert reconnect.returncode != 0
        assert UNREACHABLE in reconnect.stderr and "REDIS_URL" in reconnect.stderr
        assert "sent" not in reconnect.stdout and "Reconnecting" not in reconnect.stdout

        check = second_terminal(tmp_path, "endpoints_check", "desk")
        assert check.returncode != 0 and UNREACHABLE in check.stderr
        assert "Traceback" not in reconnect.stderr + check.stderr
        assert SECRET_MARK not in reconnect.stderr + check.stderr
        assert connected(peer, token)  # nothing happened to the connection meanwhile
