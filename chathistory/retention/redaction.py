"""Masking personal data in message text: the built-in patterns, custom ones, `redact(text)`.

Built-in masks keep just enough to recognise the value and nothing that identifies it:

- phone numbers (mainland mobiles, optionally +86): 13812345678 -> 138****5678
- Chinese ID card numbers (18 characters, with a valid date): -> 110***********123X
- e-mail addresses: alice@example.com -> a***@example.com
- bank card numbers (16 to 19 digits, spaces or dashes allowed, Luhn-checked): -> ****...1234
- custom patterns (regular expressions): each match -> [redacted]

Custom patterns are checked before they are saved (`validate_patterns`): the checks keep a
pattern's run time linear-ish in the text (no nested repeats, no alternatives inside a
repeat, no back-references, at most one unbounded repeat, bounded repeats up to 1000), and a
pattern that is still slow on adversarial probe texts is refused. Patterns are compiled once
per set (`redactor_for`, cached). Pure module: no models, no database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

try:  # the parser re compiles with (private, but stable across 3.11-3.13)
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

MAX_PATTERNS = 20
MAX_PATTERN_CHARS = 200
MAX_BOUNDED_REPEAT = 1000
# A custom pattern slower than this on any probe text is refused when it is saved.
PROBE_BUDGET_SECONDS = 0.05
PROBE_LENGTH = 3000
CUSTOM_MASK = "[redacted]"

_PHONE = re.compile(r"(?<![\d])(\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?![\d])")
_ID_NUMBER = re.compile(
    r"(?<![\dA-Za-z])([1-9]\d{2})\d{3}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
    r"(?:0[1-9]|[12]\d|3[01])(\d{3}[\dXx])(?![\dA-Za-z])"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]{0,63}"
    r"@([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24})(?![A-Za-z0-9-])"
)
_BANK_CARD = re.compile(r"(?<![\d])\d(?:[ -]?\d){15,18}(?![\d])")


def _mask_phone(match: re.Match) -> str:
    return f"{match.group(1) or ''}{match.group(2)}****{match.group(4)}"


def _mask_id(match: re.Match) -> str:
    return f"{match.group(1)}{'*' * 11}{match.group(2)}"


def _mask_email(match: re.Match) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if not _luhn(digits):
        return match.group(0)
    return "*" * (len(digits) - 4) + digits[-4:]


# Order matters: an ID number holds a bank-card-length run of digits, a card a phone's.
BUILT_IN = {
    "id_number": (_ID_NUMBER, _mask_id),
    "bank_card": (_BANK_CARD, _mask_card),
    "phone": (_PHONE, _mask_phone),
    "email": (_EMAIL, _mask_email),
}


class Redactor:
    """The masks of one policy, compiled once: `redactor(text)` returns the masked text."""

    def __init__(self, built_in: Iterable[str], patterns: Iterable[str]):
        chosen = set(built_in)
        self.steps: list[tuple[re.Pattern, Callable | str]] = [
            BUILT_IN[name] for name in BUILT_IN if name in chosen
        ]
        self.steps += [(re.compile(p), CUSTOM_MASK) for p in patterns]

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for pattern, mask in self.steps:
            text = pattern.sub(mask, text)
        return text


@lru_cache(maxsize=256)
def redactor_for(built_in: frozenset[str], patterns: tuple[str, ...]) -> Redactor:
    """The compiled redactor of a set of masks (cached: a batch compiles nothing)."""
    return Redactor(built_in, patterns)


def redact(text: str, *, built_in: Iterable[str] = tuple(BUILT_IN), patterns=()) -> str:
    """`text` with the given masks applied (by default every built-in one)."""
    return redactor_for(frozenset(built_in), tuple(patterns))(text)


# --- checking custom patterns ----------------------------------------------------------


def validate_patterns(patterns: list[str]) -> None:
    """ValidationError (every problem, one message each) unless all patterns are safe."""
    if len(patterns) > MAX_PATTERNS:
        raise ValidationError(_("At most %(n)d custom patterns.") % {"n": MAX_PATTERNS})
    problems = []
    for pattern in patterns:
        problem = pattern_problem(pattern)
        if problem:
            problems.append(f"{pattern[:60]!r}: {problem}")
    if problems:
        raise ValidationError(problems)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a custom mask (None: it can)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return _("longer than %(n)d characters") % {"n": MAX_PATTERN_CHARS}
    try:
        compiled = re.compile(pattern)
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return _("not a regular expression (%(error)s)") % {"error": exc}
    except Exception as exc:  # noqa: BLE001 - the private parser may raise others
        return _("not a regular expression (%(error)s)") % {"error": exc}
    try:
        unbounded = _check(parsed, in_repeat=False)
    except _Unsafe as exc:
        return str(exc)
    if unbounded > 1:
        return _("more than one unbounded repeat (+, * or {n,}): bound them, e.g. {1,50}")
    if any(not m.group(0) for m in compiled.finditer(_EMPTY_PROBE)):
        return _("matches the empty text")
    slow = _slow_probe(compiled)
    if slow:
        return _("too slow on a %(n)d-character text of %(probe)s") % {
            "n": PROBE_LENGTH,
            "probe": slow,
        }
    return None


class _Unsafe(Exception):
    pass


_REPEATS = {
    sre_constants.MAX_REPEAT,
    sre_constants.MIN_REPEAT,
    getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT),
}


def _check(parsed, *, in_repeat: bool) -> int:
    """The number of unbounded repeats in `parsed`; _Unsafe for a construct that can blow up."""
    unbounded = 0
    for op, av in parsed:
        if op in _REPEATS:
            low, high, sub = av
            many = high > 1
            if high == sre_constants.MAXREPEAT:
                unbounded += 1
            elif high > MAX_BOUNDED_REPEAT:
                raise _Unsafe(_("a repeat above %(n)d") % {"n": MAX_BOUNDED_REPEAT})
            if many and in_repeat:
                raise _Unsafe(_("a repeat inside a repeat (catastrophic backtracking)"))
            unbounded += _check(sub, in_repeat=in_repeat or many)
        elif op is sre_constants.BRANCH:
            if in_repeat:
                raise _Unsafe(_("alternatives inside a repeat (catastrophic backtracking)"))
            for branch in av[1]:
                unbounded += _check(branch, in_repeat=in_repeat)
        elif op is sre_constants.SUBPATTERN:
            unbounded += _check(av[3], in_repeat=in_repeat)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            unbounded += _check(av[1], in_repeat=in_repeat)
        elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
            unbounded += _check(av, in_repeat=in_repeat)
        elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise _Unsafe(_("back-references are not allowed"))
    return unbounded


_EMPTY_PROBE = "a1 ._-@中X test 123 测试"

_PROBES = {
    "digits": "1",
    "letters": "a",
    "spaces": " ",
    "Chinese": "中",
    "mixed text": "a1 ._-@中X",
}


def _slow_probe(compiled: re.Pattern) -> str | None:
    """The name of a probe text `compiled` takes too long on (None: fast on all)."""
    for name, unit in _PROBES.items():
        text = (unit * (PROBE_LENGTH // len(unit) + 1))[:PROBE_LENGTH]
        started = time.perf_counter()
        compiled.sub(CUSTOM_MASK, text)
        compiled.sub(CUSTOM_MASK, text + "!")
        if time.perf_counter() - started > PROBE_BUDGET_SECONDS:
            return name
    return None
