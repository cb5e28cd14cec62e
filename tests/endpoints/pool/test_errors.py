from datetime import UTC, datetime, timedelta

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import Close
from websockets.http11 import Response

from endpoints.pool.errors import HealthFailure, ProtocolFailure, classify, classify_close
from endpoints.pool.tokens import token_expired, token_expiry
from tests.endpoints.peers import make_token


def http_status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", Headers(), b""))


@pytest.mark.parametrize(
    ("exc", "error_class", "retry"),
    [
        (http_status(401), "auth", False),
        (http_status(403), "auth", False),
        (http_status(502), "server", True),
        (http_status(404), "protocol", True),
        (TimeoutError(), "timeout", True),
        (ConnectionRefusedError(111, "Connection refused"), "network", True),
        (ConnectionClosedError(None, None), "network", True),
        (ConnectionClosedError(Close(4004, "Internal server error"), None), "server", True),
        (ConnectionClosedError(Close(1011, ""), None), "server", True),
        (ConnectionClosedError(None, Close(1009, "frame too big")), "protocol", True),
        (ConnectionClosedOK(Close(1000, "bye"), None), None, True),
        (HealthFailure("2 pings unanswered"), "timeout", True),
        (ProtocolFailure("no initialize"), "protocol", True),
        (InvalidURI("http://x/?token=abc", "not a ws uri"), "protocol", False),
    ],
)
def test_classification(exc, error_class, retry):
    failure = classify(exc)
    assert (failure.error_class, failure.retry) == (error_class, retry)
    assert failure.message


def test_auth_message_says_what_to_do():
    assert "regenerate" in classify(http_status(401)).message


def test_close_codes():
    assert classify_close(4004, "Internal server error").error_class == "server"
    assert "4004" in classify_close(4004, "Internal server error").message
    assert classify_close(1000).error_class is None
    assert classify_close(1006).error_class == "network"
    assert classify_close(None).error_class == "network"


def test_we_closed_first_is_reported_as_ours():
    # The hub refused an oversized frame (1009) and the peer echoed the close.
    exc = ConnectionClosedError(Close(1009, "echo"), Close(1009, "frame too big"), False)
    failure = classify(exc)
    assert failure.error_class == "protocol"
    assert "frame too big" in failure.message


def test_our_own_normal_close_is_not_blamed_on_the_peer():
    exc = ConnectionClosedOK(
        Close(1000, "reconnect requested"), Close(1000, "reconnect requested"), False
    )
    failure = classify(exc)
    assert failure.error_class is None
    assert failure.message.startswith("the hub closed the connection with code 1000")


def test_secrets_never_reach_messages():
    failure = classify(OSError("cannot reach ws://h/mcp/?token=SECRET123"))
    assert "SECRET123" not in failure.message


def test_token_expiry():
    exp = datetime.now(UTC) + timedelta(days=3)
    url = f"wss://api.xiaozhi.me/mcp/?token={make_token(exp=exp.timestamp())}"
    assert token_expiry(url) == exp.replace(microsecond=0)
    assert not token_expired(url)
    assert token_expired(url, now=exp + timedelta(seconds=1))
    for url in ("wss://h/mcp/", "wss://h/mcp/?token=opaque", "wss://h/?token=a.!!.c"):
        assert token_expiry(url) is None
        assert not token_expired(url)
