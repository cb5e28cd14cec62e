"""Text -> grams, the keys of the search index (docs/search.md).

Text is first folded character by character (fold_table.py: every character that one
of the MariaDB collations compares equal to a query-safe character maps to the same
representative, so case, width and accents fold as LIKE folds them). Then it splits into
runs: CJK runs (Han, kana, Hangul) give character bigrams, other runs (Latin words,
digits, punctuation, spaces) give trigrams. A gram is its code points packed into one
integer (21 bits a character): exact, no hash collisions.

A query's grams come from the same function, keeping only grams made of query-safe
characters (SAFE_RANGES): for those, every text the database's LIKE matches holds all
the query's grams. The search still checks every candidate with LIKE: grams only narrow
the rows it checks.
"""

from __future__ import annotations

import re

from .fold_table import SOURCE, TARGET

# Characters a query's grams may use: their equality classes under every collation the
# fold table was built from are folded to one representative.
SAFE_RANGES = (
    (0x20, 0x7E),  # ASCII
    (0xA0, 0x24F),  # Latin-1, Latin Extended-A and -B
    (0x2010, 0x2027),  # dashes, quotes, ellipsis
    (0x3000, 0x30FF),  # CJK punctuation, kana
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xFF01, 0xFF5E),  # full-width ASCII
)
# In those ranges but ignorable (no weight) in some collation: never in a query gram.
_IGNORABLE = "\u00ad\u302a\u302b\u302c\u302d\u302e\u302f\u3099\u309a"
_SAFE = re.compile(
    "[^"
    + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in SAFE_RANGES)
    + "]|["
    + _IGNORABLE
    + "]"
)
_FOLD = str.maketrans(SOURCE, TARGET)
_CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003ffff]+"
)
# Grams of a text with more distinct grams than this are not stored: the text gets the
# LONG gram instead, and every search checks the texts that carry it.
MAX_GRAMS = 4000
LONG = 1  # below any real gram (a bigram's first character is at least U+0001)


def fold(text: str) -> str:
    return text.translate(_FOLD)


def _run_grams(run: str, cjk: bool, out: set[int]) -> None:
    codes = list(map(ord, run))
    if cjk:
        out.update((a << 21) | b for a, b in zip(codes, codes[1:], strict=False))
    else:
        out.update(
            (a << 42) | (b << 21) | c for a, b, c in zip(codes, codes[1:], codes[2:], strict=False)
        )


def _grams(folded: str) -> set[int]:
    out: set[int] = set()
    at = 0
    for match in _CJK.finditer(folded):
        if match.start() > at:
            _run_grams(folded[at : match.start()], False, out)
        _run_grams(match.group(), True, out)
        at = match.end()
    if at < len(folded):
        _run_grams(folded[at:], False, out)
    return out


def document_grams(text: str) -> set[int]:
    """The grams a message's content is indexed under ({LONG} for a very long one)."""
    grams = _grams(fold(text))
    return grams if len(grams) <= MAX_GRAMS else {LONG}


def query_grams(text: str) -> list[int]:
    """Grams every text containing `text` (as LIKE compares) holds; [] when none is sure.

    Unsafe characters are replaced by a separator that splits runs, so no gram spans them.
    """
    masked = _SAFE.sub("\x00", text)
    out: set[int] = set()
    for part in fold(masked).split("\x00"):
        if part:
            out |= _grams(part)
    return sorted(out)
