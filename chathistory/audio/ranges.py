"""HTTP Range requests over a stored file (RFC 9110, section 14), for the audio route.

Django's FileResponse answers whole files only. What is supported:

- one byte range: `bytes=0-99`, open-ended `bytes=100-`, suffix `bytes=-500`
  -> 206 Partial Content with Content-Range; an end past the file is cut to it,
  a suffix longer than the file is the whole file (206);
- a range that starts at or past the end, a suffix of 0, an end before its start, or
  a `bytes=` value that is not a range -> 416 with `Content-Range: bytes */<size>`
  (as is any range of an empty file);
- several ranges (`bytes=0-9,20-29`) -> 200 with the whole file: allowed by the
  RFC (a server may ignore Range) and what a media element asks for is one range;
- another unit (`items=0-9`) -> ignored, 200;
- If-Range: the range is honoured only when it equals the response's ETag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO

from django.http import HttpResponse, StreamingHttpResponse

CHUNK = 64 * 1024
_RANGE = re.compile(r"^([0-9]{0,19})-([0-9]{0,19})$", re.ASCII)
MAX_HEADER = 1000  # longer Range headers are ignored (200), never parsed


class Unsatisfiable(Exception):  # noqa: N818 - an HTTP answer's name
    """416 Range Not Satisfiable."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range `header` asks for in a file of `size` bytes; None for the whole file;
    Unsatisfiable for a 416."""
    if not header or len(header) > MAX_HEADER:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None  # several ranges: the whole file (documented above)
    match = _RANGE.match(spec.strip())
    if not match or match.group(0) == "-":
        raise Unsatisfiable(header)
    first, last = match.groups()
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(header)
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if end < start or start >= size:
        raise Unsatisfiable(header)
    return ByteRange(start, min(end, size - 1))


def _chunks(handle: IO[bytes], start: int, length: int):
    try:
        handle.seek(start)
        left = length
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def ranged_response(
    *,
    handle: IO[bytes],
    size: int,
    content_type: str,
    range_header: str | None,
    if_range: str | None = None,
    etag: str | None = None,
    filename: str = "audio.wav",
) -> HttpResponse:
    """200 with the whole file, 206 with the asked range, or 416. Closes `handle`."""
    if if_range is not None and (etag is None or if_range.strip() != etag):
        range_header = None  # the file changed since the client's copy: send it whole
    try:
        wanted = parse_range(range_header, size)
    except Unsatisfiable:
        handle.close()
        response = HttpResponse(status=416, content_type="text/plain; charset=utf-8")
        response.content = b"range not satisfiable"
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    if wanted is None:
        response = StreamingHttpResponse(_chunks(handle, 0, size), content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        response = StreamingHttpResponse(
            _chunks(handle, wanted.start, wanted.length), status=206, content_type=content_type
        )
        response["Content-Length"] = str(wanted.length)
        response["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    if etag:
        response["ETag"] = etag
    return response
