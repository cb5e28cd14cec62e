"""The language of management commands' output: the terminal's, as gettext reads it.

Django runs commands in LANGUAGE_CODE (English). A person whose shell says Chinese
(LANGUAGE, LC_ALL, LC_MESSAGES or LANG such as zh_CN.UTF-8) reads the hub's commands in
Chinese; C, POSIX, unset or a language the hub does not speak: English. Servers
(runhub, daphne, celery) are not affected: only commands decorated with
`in_terminal_language` switch, and only while they run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps

from django.utils import translation

LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def terminal_language(environ: Mapping[str, str] = os.environ) -> str | None:
    """The hub language ("zh-hans", "en") the environment asks for, or None."""
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        # LANGUAGE may list several (zh_CN:en); the first is the preferred one.
        locale = value.split(":")[0].split(".")[0].split("@")[0].strip()
        if not locale:
            continue
        if locale in {"C", "POSIX"}:
            return None
        try:
            return translation.get_supported_language_variant(locale.replace("_", "-").lower())
        except LookupError:
            return None
    return None


def in_terminal_language(handle: Callable) -> Callable:
    """Decorates a command's handle(): it runs in the terminal's language."""

    @wraps(handle)
    def wrapper(*args, **kwargs):
        with in_the_terminals_language():
            return handle(*args, **kwargs)

    return wrapper


@contextmanager
def in_the_terminals_language() -> Iterator[None]:
    """The terminal's language while the block runs: for a server's own messages
    (runhub), where the whole command must not switch."""
    language = terminal_language()
    if language is None:
        yield
        return
    with translation.override(language):
        yield
