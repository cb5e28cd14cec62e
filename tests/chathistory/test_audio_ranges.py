"""HTTP Range parsing and answers of the audio route (chathistory/audio/ranges.py):
RFC 9110 byte ranges, without a database."""

from __future__ import annotations

import io

import pytest

from chathistory.audio.ranges import ByteRange, Unsatisfiable, parse_range, ranged_response

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-1", ByteRange(999, 999)),
        ("bytes=-500", ByteRange(500, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # a suffix longer than the file: all of it
        ("bytes=900-5000", ByteRange(900, 999)),  # an end past the file is cut to it
        ("bytes=999-999", ByteRange(999, 999)),
        ("Bytes = 5-9", ByteRange(5, 9)),
        (None, None),
        ("", None),
        ("items=0-9", None),  # another unit: ignored
        ("bytes=0-9,20-29", None),  # several ranges: the whole file
        ("bytes=0-1," + "2-3," * 500, None),  # too long to parse: the whole file
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",  # starts at the end
        "bytes=5000-6000",
        "bytes=-0",
        "bytes=10-5",  # ends before it starts
        "bytes=-",
        "bytes=",
        "bytes=abc",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes= 0x10-20",
        "bytes=" + "9" * 30 + "-",
        "bytes=٣-٥",  # non-ASCII digits are not digits here
    ],
)
def test_unsatisfiable_ranges(header):
    with pytest.raises(Unsatisfiable):
        parse_range(header, SIZE)


def test_an_empty_file_satisfies_no_range():
    assert parse_range(None, 0) is None
    for header in ("bytes=0-", "bytes=-1", "bytes=0-0"):
        with pytest.raises(Unsatisfiable):
            parse_range(header, 0)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


DATA = bytes(range(256)) * 4  # 1024 bytes


def _answer(header, **kwargs):
    handle = io.BytesIO(DATA)
    response = ranged_response(
        handle=handle, size=len(DATA), content_type="audio/wav", range_header=header, **kwargs
    )
    return response, handle


def test_whole_file_partial_and_unsatisfiable_answers():
    response, _ = _answer(None)
    assert response.status_code == 200 and _body(response) == DATA
    assert response["Content-Length"] == "1024" and response["Accept-Ranges"] == "bytes"

    response, handle = _answer("bytes=10-19")
    assert response.status_code == 206 and _body(response) == DATA[10:20]
    assert response["Content-Range"] == "bytes 10-19/1024" and response["Content-Length"] == "10"
    assert handle.closed

    response, _ = _answer("bytes=-24")
    assert _body(response) == DATA[-24:] and response["Content-Range"] == "bytes 1000-1023/1024"

    response, handle = _answer("bytes=2000-")
    assert response.status_code == 416 and response["Content-Range"] == "bytes */1024"
    assert handle.closed


def test_if_range_honours_the_range_only_for_the_same_etag():
    response, _ = _answer("bytes=0-9", if_range='"a"', etag='"a"')
    assert response.status_code == 206 and response["ETag"] == '"a"'
    response, _ = _answer("bytes=0-9", if_range='"old"', etag='"a"')
    assert response.status_code == 200 and _body(response) == DATA
