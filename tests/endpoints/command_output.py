"""Management commands run in tests, and the import's report read back: a `section:`
line, then its indented `kind: text` lines."""

import io

from django.core.management import call_command


def run(*args) -> tuple[str, str]:
    """(stdout, stderr) of a command."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def section(out: str, name: str) -> list[str]:
    """The report lines of one section, without their indentation."""
    lines, inside = [], False
    for line in out.splitlines():
        if not line.startswith(" "):
            inside = line == f"{name}:"
        elif inside:
            lines.append(line.strip())
    return lines
