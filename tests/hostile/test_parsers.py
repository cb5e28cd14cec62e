"""Property tests of the parsers of client input (Hypothesis): whatever arrives, the
only exception is the documented one, and what is accepted can be stored.

- xiaozhi_hub.jsonlimits.loads_limited: JsonInputError, else the stdlib's value;
- chathistory.sources.report.parse_report: ReportError, else a storable report;
- xiaozhi_hub.console.protocol.parse_frame: FrameError, else a Request.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chathistory.sources.report import ChatReport, ReportError, parse_report
from xiaozhi_hub.console.protocol import FrameError, Request, parse_frame
from xiaozhi_hub.jsonlimits import JsonInputError, loads_limited

# No example database: nothing is written into the repository.
PROPERTY = settings(
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_DEPTH = 32
NOW_MS = 1_780_000_000_000  # 2026-05-28: a fixed hub clock, so examples replay exactly

# Text with lone surrogates mixed in (Hypothesis leaves them out by default).
texts = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=20)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), texts, st.integers(-(10**30), 10**30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=25,
)


def nested(depth: int, kind: str) -> str:
    opening, closing = ("[", "]") if kind == "array" else ('{"a":', "}")
    return opening * depth + "1" + closing * depth


@st.composite
def encoded(draw, values) -> bytes:
    """A value as a client might send it: NaN and Infinity included, any escaping,
    lone surrogates as escapes or as (invalid) UTF-8 bytes."""
    text = json.dumps(draw(values), ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


hostile_bodies = st.one_of(
    st.binary(max_size=200),
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    encoded(json_values),
    st.builds(nested, st.integers(0, 3000), st.sampled_from(["array", "object"])).map(str.encode),
)


def depth_of(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


# --- loads_limited -----------------------------------------------------------------------


@PROPERTY
@given(hostile_bodies, st.integers(1, 40))
def test_loads_limited_raises_only_its_own_error(data, max_depth):
    for form in (data, data.decode("utf-8", "surrogateescape")):
        try:
            loads_limited(form, max_depth=max_depth, max_bytes=None)
        except JsonInputError:
            pass


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=20,
)


@PROPERTY
@given(plain_values.filter(lambda v: v not in (float("inf"), float("-inf"))))
def test_loads_limited_agrees_with_the_stdlib_within_the_depth(value):
    try:
        text = json.dumps(value, allow_nan=False)
    except ValueError:  # an infinity inside: not JSON
        return
    if depth_of(value) <= 3:
        assert loads_limited(text, max_depth=3, max_bytes=None) == json.loads(text)
    else:
        with pytest.raises(JsonInputError, match="nested deeper than 3 levels"):
            loads_limited(text, max_depth=3, max_bytes=None)


def test_loads_limited_refuses_over_the_size_in_bytes():
    text = json.dumps("é" * 6, ensure_ascii=False)  # 8 characters, 14 bytes
    assert loads_limited(text, max_depth=1, max_bytes=14) == "é" * 6
    with pytest.raises(JsonInputError, match="larger than 13 bytes"):
        loads_limited(text, max_depth=1, max_bytes=13)


# --- parse_report --------------------------------------------------------------------------

REPORT_WITH_TIME = (
    '{"macAddress": "m", "sessionId": "s", "chatType": 1, "content": "c", "reportTime": TIME}'
)
report_times = st.one_of(
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from([1e30, "inf", "-inf", "nan", 10**20, 10**399, 253402300800000, 1, "1e400"]),
    json_values,
)
report_shaped = st.fixed_dictionaries(
    {
        "macAddress": st.one_of(texts, json_values),
        "sessionId": st.one_of(texts, st.none(), json_values),
        "chatType": st.one_of(st.sampled_from([1, 2, 3, "1", "3"]), json_values),
        "content": st.one_of(texts, json_values),
        "reportTime": report_times,
    },
    optional={"audioBase64": st.one_of(st.just("UklGRg=="), texts, json_values)},
)


@PROPERTY
@given(st.one_of(hostile_bodies, encoded(report_shaped)))
@example(REPORT_WITH_TIME.replace("TIME", "1e30").encode())
@example(REPORT_WITH_TIME.replace("TIME", "9" * 400).encode())
def test_parse_report_raises_only_report_error_and_accepts_only_storable_reports(body):
    try:
        report = parse_report(body, max_depth=MAX_DEPTH, now_ms=NOW_MS)
    except ReportError:
        return
    assert isinstance(report, ChatReport) and report.chat_type in (1, 2, 3)
    for text in (report.mac, report.session_id or "", report.content):
        text.encode("utf-8")  # no lone surrogate: the database can store it
    assert len(report.mac) <= 50 and len(report.session_id or "") <= 50
    earliest = datetime(2000, 1, 1, tzinfo=UTC)
    assert earliest <= report.created_at <= datetime.fromtimestamp(NOW_MS / 1000 + 86400, UTC)


# --- parse_frame ---------------------------------------------------------------------------

frame_shaped = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(texts, st.none(), json_values),
        "type": st.one_of(
            st.sampled_from(["subscribe", "heartbeat", "sync:start", "endpoint:check"]),
            json_values,
        ),
        "channel": st.one_of(texts, json_values),
        "payload": st.one_of(st.dictionaries(texts, json_values, max_size=3), json_values),
    },
)


@PROPERTY
@given(
    st.one_of(
        texts,
        st.none(),
        hostile_bodies.map(lambda b: b.decode("utf-8", "surrogateescape")),
        encoded(frame_shaped).map(lambda b: b.decode("utf-8", "surrogatepass")),
    )
)
def test_parse_frame_raises_only_frame_error(text):
    try:
        request = parse_frame(text)
    except FrameError as exc:
        assert exc.reason
        return
    assert isinstance(request, Request) and isinstance(request.payload, dict)
    json.dumps(request.payload, ensure_ascii=False).encode("utf-8")  # answerable, storable


def test_escaped_backslashes_are_not_mistaken_for_surrogates():
    # "\\ud800" in JSON is a backslash and five letters: text, accepted as it is.
    assert loads_limited('["\\\\ud800"]', max_depth=1, max_bytes=None) == ["\\ud800"]
    body = '{"macAddress": "m", "sessionId": null, "chatType": 1, "content": "\\\\ud800 x",'
    report = parse_report(f'{body} "reportTime": {NOW_MS}}}'.encode(), max_depth=2, now_ms=NOW_MS)
    assert report.content == "\\ud800 x"
