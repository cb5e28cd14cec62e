"""The `script` kind: a command on the worker (node, python or bash; a file or inline code).

Handler: {type: script, script, interpreter? (node|python|bash), timeout? (ms),
env?}. `script` is a file when one exists at that path (relative to the
worker's directory), else inline code (`node -e`, `python -c`, `bash -c`).
Without an interpreter, a file's extension picks it (.js/.mjs/.cjs node, .py
python, .sh bash), else node (xiaozhi-client's default).

The arguments reach the script as JSON on its standard input and in the
XIAOZHI_TOOL_ARGUMENTS environment variable; its standard output is the
tool's text, a non-zero exit the tool's `isError` result (with the end of its
standard error). On timeout (or when the call is cancelled) its whole process
group is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from mcp import types
from mcp.client.stdio import get_default_environment

from ...pool.registry import ToolTimeout
from .text import clip, error_result, ok_result

ARGUMENTS_ENV = "XIAOZHI_TOOL_ARGUMENTS"
MAX_OUTPUT = 1_000_000  # bytes of output kept
INLINE_FLAG = {"node": "-e", "python": "-c", "bash": "-c"}
BY_EXTENSION = {".js": "node", ".mjs": "node", ".cjs": "node", ".py": "python", ".sh": "bash"}


def interpreter_path(name: str) -> str:
    if name == "python":
        return shutil.which("python3") or shutil.which("python") or sys.executable
    return shutil.which(name) or name


def script_interpreter(handler: dict) -> tuple[str, bool]:
    """(interpreter name, whether `script` is a file) of a script handler."""
    script = handler["script"]
    path = Path(script)
    is_file = "\n" not in script and len(script) < 4096 and path.is_file()
    interpreter = handler.get("interpreter") or (
        BY_EXTENSION.get(path.suffix.lower(), "node") if is_file else "node"
    )
    return interpreter, is_file


def script_command(handler: dict) -> list[str]:
    script = handler["script"]
    interpreter, is_file = script_interpreter(handler)
    program = interpreter_path(interpreter)
    return [program, script] if is_file else [program, INLINE_FLAG[interpreter], script]


async def run_script(handler: dict, arguments: dict, timeout: float) -> types.CallToolResult:
    command = script_command(handler)
    payload = json.dumps(arguments, ensure_ascii=False)
    # Like stdio servers: only the safe basics (PATH, HOME...), never the hub's own
    # environment, which holds its secrets (SECRET_KEY, database URLs, keys).
    env = get_default_environment() | {
        str(k): str(v) for k, v in (handler.get("env") or {}).items()
    }
    env[ARGUMENTS_ENV] = payload
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group, killed as one
        )
    except OSError as exc:
        return error_result(f"cannot start {command[0]}: {exc.strerror or exc}")
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate(payload.encode())
    except TimeoutError:
        _kill(process)
        await process.wait()
        raise ToolTimeout(f"the script did not finish within {timeout:g} s (killed)") from None
    except BaseException:
        _kill(process)
        raise
    out = stdout[:MAX_OUTPUT].decode(errors="replace")
    if process.returncode != 0:
        err = stderr.decode(errors="replace").strip()
        return error_result(
            f"the script exited with status {process.returncode}: {clip(err[-2000:], 2000) or out}"
        )
    return ok_result(out.rstrip("\n"))


def _kill(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
