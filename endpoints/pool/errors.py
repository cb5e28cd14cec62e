"""What went wrong with a connection, and whether retrying can help.

Classes: network (refused, reset, no close frame / 1006), timeout (the dial or
a ping took too long), auth (HTTP 401/403 on the handshake, an expired
token: retrying cannot help, so the endpoint stops at once as `failed`),
server (close 4004 and other 4xxx/1011, HTTP 5xx: backs off), protocol
(bad frames, oversized messages, a peer that never initializes, other HTTP
answers, a malformed URL).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from xiaozhi_hub.masking import mask_text

# Close codes a peer may send, and what they mean for the next attempt.
NORMAL_CLOSE_CODES = (1000, 1001)
SERVER_CLOSE_CODES = (1011, 1012, 1013, 1014)
PROTOCOL_CLOSE_CODES = (1002, 1003, 1007, 1008, 1009, 1010)


@dataclass(frozen=True)
class Failure:
    error_class: str | None  # None: a normal close, not an error
    message: str  # masked, safe to show
    retry: bool = True


class ProtocolFailure(Exception):
    """The peer broke the protocol in a way that ends the connection."""


class HealthFailure(Exception):
    """Health pings went unanswered: the peer is gone or half-open."""


def classify_close(code: int | None, reason: str = "") -> Failure:
    detail = f"closed with code {code}" + (f" ({reason})" if reason else "")
    if code in NORMAL_CLOSE_CODES:
        return Failure(None, f"peer {detail}")
    if code is None or code == 1006:
        return Failure("network", "connection lost without a close frame (1006)")
    if code in PROTOCOL_CLOSE_CODES:
        return Failure("protocol", f"peer {detail}")
    if code in SERVER_CLOSE_CODES or 4000 <= code <= 4999:
        return Failure("server", f"peer {detail}")
    return Failure("network", f"peer {detail}")


def classify(exc: BaseException) -> Failure:
    """The failure behind an exception raised while dialling or serving."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (401, 403):
            return Failure(
                "auth",
                f"the endpoint refused the token (HTTP {status}); "
                "regenerate the endpoint URL and update it",
                retry=False,
            )
        if status >= 500:
            return Failure("server", f"handshake refused with HTTP {status}")
        return Failure("protocol", f"handshake refused with HTTP {status}")
    if isinstance(exc, ConnectionClosed):
        sent, rcvd = exc.sent, exc.rcvd
        we_closed_first = sent is not None and (rcvd is None or exc.rcvd_then_sent is False)
        if we_closed_first:
            # The hub closed it: 1009 for an oversized frame, 1002/1007 for a bad frame,
            # 1000 when asked to (reconnect, removal).
            failure = classify_close(sent.code, sent.reason)
            message = failure.message.replace("peer closed", "the hub closed the connection")
            return Failure(failure.error_class, message)
        if rcvd is not None:
            return classify_close(rcvd.code, rcvd.reason)
        return classify_close(None)
    if isinstance(exc, HealthFailure):
        return Failure("timeout", str(exc))
    if isinstance(exc, ProtocolFailure):
        return Failure("protocol", str(exc))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Failure("timeout", "timed out connecting")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return Failure("network", f"TLS error: {mask_text(str(exc))}")
    if isinstance(exc, InvalidURI | ValueError):
        return Failure("protocol", f"invalid endpoint URL: {mask_text(str(exc))}", retry=False)
    if isinstance(exc, InvalidHandshake):
        return Failure("protocol", f"handshake failed: {mask_text(str(exc))}")
    if isinstance(exc, OSError):
        return Failure("network", mask_text(str(exc) or type(exc).__name__))
    return Failure("protocol", f"{type(exc).__name__}: {mask_text(str(exc))}")
