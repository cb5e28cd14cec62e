"""The `script` kind end to end: a command on the worker (inline code and a file)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.endpoints.pool.conftest import wait_until

from .conftest import call, custom, offer, request_error, text


async def test_inline_python_gets_the_arguments_on_stdin(hub):
    code = "import json,sys; a=json.load(sys.stdin); print('你好, ' + a['name'])"
    await offer(
        hub, custom(1, "greet", {"type": "script", "interpreter": "python", "script": code})
    )
    result = await call(hub, "greet", {"name": '"小智"'})
    assert not result.is_error and text(result) == '你好, "小智"'


async def test_inline_bash_with_env_and_a_failing_exit(hub):
    await offer(
        hub,
        custom(
            1,
            "env",
            {
                "type": "script",
                "interpreter": "bash",
                "script": 'echo "$GREETING $XIAOZHI_TOOL_ARGUMENTS"',
                "env": {"GREETING": "hi"},
            },
        ),
        custom(
            2, "fails", {"type": "script", "interpreter": "bash", "script": "echo bad >&2; exit 3"}
        ),
    )
    assert text(await call(hub, "env", {"n": 1})) == 'hi {"n": 1}'
    failed = await call(hub, "fails")
    assert failed.is_error and text(failed) == "the script exited with status 3: bad"


async def test_a_script_file_picks_its_interpreter_by_extension(hub, tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("import json, sys\nprint(sum(json.load(sys.stdin)['n']))\n")
    await offer(hub, custom(1, "summer", {"type": "script", "script": str(script)}))
    assert text(await call(hub, "summer", {"n": [1, 2, 3]})) == "6"


async def test_a_script_past_its_timeout_is_killed(hub, recorder, tmp_path):
    marker = tmp_path / "pid"
    code = f"echo $$ > {marker}; sleep 30"
    await offer(
        hub,
        custom(
            1, "sleeper", {"type": "script", "interpreter": "bash", "script": code}, timeout=0.5
        ),
    )
    error = await request_error(hub, "sleeper")
    assert error["code"] == -32002 and "killed" in error["message"]
    pid = int(marker.read_text())
    await wait_until(lambda: not _alive(pid), timeout=5)
    await wait_until(lambda: recorder.calls)
    assert recorder.calls[-1].outcome == "timeout"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not sys.executable, reason="needs a Python")
async def test_a_function_handler_is_refused(hub):
    await offer(hub, custom(1, "js", {"type": "function", "module": "./a.js", "function": "f"}))
    result = await call(hub, "js")
    assert result.is_error and "JavaScript function cannot run in the hub" in text(result)


async def test_a_script_never_sees_the_hubs_own_environment(hub, monkeypatch):
    # The worker's environment holds the hub's secrets (SECRET_KEY, database URLs).
    monkeypatch.setenv("HUB_SCRIPT_CANARY", "worker-secret")
    await offer(
        hub,
        custom(
            1,
            "peek",
            {
                "type": "script",
                "interpreter": "bash",
                "script": 'echo "[${HUB_SCRIPT_CANARY:-unset}] [$OWN]"',
                "env": {"OWN": "given"},
            },
        ),
    )
    assert text(await call(hub, "peek")) == "[unset] [given]"
