"""The admin's "Sync now" and "Resync from scratch" actions, through the real admin site."""

import pytest
from django.contrib.admin import helpers

from chathistory.models import ChatMessage, SyncRun, SyncState
from chathistory.sync import run_sync
from xiaozhi_hub.celery import app

pytestmark = pytest.mark.requires_services("mysql")

CHANGELIST = "/admin/chathistory/syncstate/"


@pytest.fixture
def eager_tasks():
    """Queued tasks run in the test's process, as soon as the request's transaction commits."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def admin_client(client, transactional_db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def write(source, count, start=0):
    for i in range(start, start + count):
        source.write(mac="aa:bb:cc:dd:ee:0a", session="s-admin", content=f"admin {i}")


def post_action(client, action, state, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [state.pk], **extra}
    return client.post(CHANGELIST, data, follow=True)


def test_sync_now_queues_a_run_that_copies_new_rows(esp32, admin_client, eager_tasks):
    write(esp32, 3)
    assert run_sync(trigger="test").status == "success"
    write(esp32, 2, start=3)
    state = SyncState.objects.get()

    response = post_action(admin_client, "sync_now", state)

    assert response.status_code == 200
    assert "A sync of esp32 was queued" in response.content.decode()
    run = SyncRun.objects.order_by("-id").first()
    assert (run.trigger, run.full, run.status, run.rows_read) == ("manual", False, "success", 2)
    assert ChatMessage.objects.count() == 5 and SyncState.objects.get().cursor == 5


def test_resync_asks_for_confirmation_then_rereads_everything_once(
    esp32, admin_client, eager_tasks
):
    write(esp32, 4)
    assert run_sync(trigger="test").status == "success"
    before = set(ChatMessage.objects.values_list("id", "source_id"))
    state = SyncState.objects.get()
    runs = SyncRun.objects.count()

    page = post_action(admin_client, "resync_from_scratch", state)

    body = page.content.decode()
    assert page.status_code == 200 and "Resync chat history from scratch?" in body
    assert 'name="confirmed" value="yes"' in body and "Yes, resync from scratch" in body
    assert SyncRun.objects.count() == runs, "nothing may run before the operator confirms"

    done = post_action(admin_client, "resync_from_scratch", state, confirmed="yes")

    assert "A full resync of esp32 was queued" in done.content.decode()
    run = SyncRun.objects.order_by("-id").first()
    assert (run.full, run.status, run.cursor_start, run.rows_read) == (True, "success", 4, 4)
    assert set(ChatMessage.objects.values_list("id", "source_id")) == before  # no duplicates


def test_sync_now_without_a_source_says_why(admin_client, settings):
    state = SyncState.objects.create(source="esp32")

    response = post_action(admin_client, "sync_now", state)

    assert "Not queued (esp32): ESP32_DATABASE_URL is not set" in response.content.decode()
    assert not SyncRun.objects.exists()
