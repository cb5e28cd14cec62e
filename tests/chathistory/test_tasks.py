"""Celery's retries of a failed sync: their backoff, their arguments, and the broker messages.

The task body runs as a worker runs it (a request that is not eager, pushed
with Celery's own push_request), against a source that really refuses the
connection; each retry goes through the real Redis broker.
"""

import uuid
from datetime import UTC, datetime

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from chathistory.models import SyncRun, SyncState
from chathistory.tasks import sync_chat_history
from tests.services import free_port

pytestmark = pytest.mark.requires_services("redis")


@pytest.fixture
def source_down(source_at, db):
    """A configured source whose server is gone: every run fails at its first query."""
    source_at(f"mysql://root@127.0.0.1:{free_port()}/xiaozhi_esp32_server")


def run_as_worker(task_id: str, retries: int, kwargs: dict) -> None:
    """The task body as a worker runs delivery number `retries` + 1 of task `task_id`."""
    sync_chat_history.push_request(
        id=task_id, retries=retries, args=(), kwargs=kwargs, is_eager=False, called_directly=False
    )
    try:
        sync_chat_history.run(**kwargs)
    finally:
        sync_chat_history.pop_request()


def take_queued(task_id: str) -> list:
    """The broker's messages for `task_id`, consumed from the default queue (none will run)."""
    app = sync_chat_history.app
    found = []
    with (
        app.connection_for_read() as connection,
        connection.SimpleQueue(app.conf.task_default_queue) as queue,
    ):
        while True:
            try:
                message = queue.get(timeout=0.5)
            except queue.Empty:
                return found
            message.ack()
            if message.headers["id"] == task_id:
                found.append(message)


def test_a_failed_sync_is_retried_with_backoff_then_given_up(source_down):
    task_id = f"chat-sync-retry-test-{uuid.uuid4()}"
    take_queued(task_id)  # nothing left over from earlier tests
    SyncState.objects.create(source="esp32", cursor=42)
    kwargs = {
        "full": True,
        "device": "aa:bb:cc:dd:ee:01",
        "session_id": "s1",
        "trigger": "beat",
        "source": "esp32",
    }
    countdowns, sent_at = [], []
    for retries in range(sync_chat_history.max_retries):
        sent_at.append(datetime.now(UTC))
        with pytest.raises(Retry) as retry:
            run_as_worker(task_id, retries, kwargs)
        assert isinstance(retry.value.exc, OperationalError)
        countdowns.append(retry.value.when)
        kwargs = retry.value.sig.kwargs
        # A failed full resync has already rewound the cursor: the retry carries on without it.
        assert SyncState.objects.get().cursor == 0
        assert kwargs == {
            "device": "aa:bb:cc:dd:ee:01",
            "session_id": "s1",
            "trigger": "retry",
            "source": "esp32",
        }

    # After max_retries the original error is raised: Celery records the task as failed.
    with pytest.raises(OperationalError):
        run_as_worker(task_id, sync_chat_history.max_retries, kwargs)

    # 10 * 2**n s. RETRY_BACKOFF_MAX (300 s) would apply from the sixth retry
    # (320 s), but max_retries=5 gives up before it.
    assert countdowns == [10, 20, 40, 80, 160]
    queued = take_queued(task_id)
    assert [m.headers["retries"] for m in queued] == [1, 2, 3, 4, 5]
    for message, countdown, sent in zip(queued, countdowns, sent_at, strict=True):
        waits = (datetime.fromisoformat(message.headers["eta"]) - sent).total_seconds()
        assert countdown <= waits < countdown + 5, (countdown, message.headers["eta"])
        args, queued_kwargs, _ = message.decode()
        assert (args, queued_kwargs) == ([], kwargs)
    runs = list(SyncRun.objects.order_by("id").values_list("trigger", "full", "status"))
    assert runs == [("beat", True, "failed")] + [("retry", False, "failed")] * 5
    assert SyncState.objects.get().last_error.startswith("OperationalError")
