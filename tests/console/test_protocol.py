"""The console protocol's pure parts: frame parsing, channel names, sync requests, limits."""

import pytest

from xiaozhi_hub.console import protocol as p
from xiaozhi_hub.console.limits import TokenBucket


def test_a_valid_frame_becomes_a_request():
    request = p.parse_frame('{"id": "1", "type": "subscribe", "payload": {"channel": "sync"}}')
    assert request == p.Request(type="subscribe", id="1", payload={"channel": "sync"})
    assert p.parse_frame('{"type": "heartbeat", "payload": null}').payload == {}


@pytest.mark.parametrize(
    "channel, ok",
    [
        ("health", True),
        ("sync", True),
        ("chat", True),
        ("chat:aa:bb:cc:dd:ee:ff", True),
        ("chat:", False),
        ("chat:has space", False),
        ("system", False),
        ("chat:" + "x" * 65, False),
        (None, False),
    ],
)
def test_only_console_channels_can_be_subscribed(channel, ok):
    if ok:
        assert p.subscribable(channel) == channel
    else:
        with pytest.raises(p.FrameError):
            p.subscribable(channel)


@pytest.mark.parametrize(
    "payload, arguments",
    [
        ({}, {"full": False, "device": None, "session_id": None, "source": None}),
        ({"full": True}, {"full": True, "device": None, "session_id": None, "source": None}),
        (
            {"device": "aa:bb"},
            {"full": False, "device": "aa:bb", "session_id": None, "source": None},
        ),
        (
            {"sessionId": "s-1"},
            {"full": False, "device": None, "session_id": "s-1", "source": None},
        ),
        # The earlier design's per-chat shape.
        (
            {"chatId": "9f1c-uuid"},
            {"full": False, "device": None, "session_id": "9f1c-uuid", "source": None},
        ),
        (
            {"chatId": "AA-BB-CC-DD-EE-FF"},
            {"full": False, "device": "AA-BB-CC-DD-EE-FF", "session_id": None, "source": None},
        ),  # fmt: skip
        # One source of several (docs/sources.md).
        (
            {"source": "site-a"},
            {"full": False, "device": None, "session_id": None, "source": "site-a"},
        ),
    ],
)
def test_sync_start_payloads_map_to_sync_request_arguments(payload, arguments):
    assert p.sync_arguments(payload) == arguments


@pytest.mark.parametrize("source", ["", "a b", "x" * 33, 7, ["esp32"], "../esp32", "ключ"])
def test_a_sync_start_names_a_source_by_its_key_or_is_refused(source):
    with pytest.raises(p.FrameError, match='"source" must be a source key'):
        p.sync_arguments({"source": source})


def test_the_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back after 1/rate seconds
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] = 100  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(
    "payload, required, expected",
    [
        ({"endpointId": 3}, True, 3),
        ({"endpoint_id": 3}, True, 3),  # the spelling before the casing fix, still read
        ({"endpointId": 4, "endpoint_id": 3}, True, 4),  # the documented spelling wins
        ({}, False, None),  # endpoint:check without an id checks every endpoint
        ({}, True, '"endpointId" must be a positive integer'),
        ({"endpointId": True}, True, '"endpointId" must be'),
        ({"endpointId": 0}, False, '"endpointId" must be'),
        ({"endpointId": "3"}, False, '"endpointId" must be'),
    ],
)
def test_endpoint_requests_name_their_endpoint_in_camel_case(payload, required, expected):
    if isinstance(expected, str):
        with pytest.raises(p.FrameError, match=expected):
            p.endpoint_id(payload, required=required)
    else:
        assert p.endpoint_id(payload, required=required) == expected
