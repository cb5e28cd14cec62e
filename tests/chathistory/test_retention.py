"""Retention: which policy applies (device beats agent beats source), the masks, the pass
that deletes exactly what the policies say (batches, counters, audio files), deleting a
device's history with confirmation, and the command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from chathistory.models import (
    Agent,
    ChatAudio,
    ChatMessage,
    ChatSession,
    DeletedDevice,
    Device,
    RetentionPolicy,
    RetentionRun,
)
from chathistory.parsing import preview
from chathistory.retention import policies
from chathistory.retention.apply import retention_apply
from chathistory.retention.delete import ConfirmationMismatch, device_history_delete
from chathistory.retention.policy import governed_messages, source_rules
from chathistory.retention.redaction import pattern_problem, redact

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now()


class History:
    """Devices, agents, sessions and messages made in the hub directly, counters right."""

    def __init__(self):
        self.next_id = 1

    def device(self, mac: str, *, source: str = "esp32", agent: Agent | None = None) -> Device:
        return Device.objects.create(source=source, mac=mac, agent=agent)

    def agent(self, agent_id: str, *, source: str = "esp32") -> Agent:
        return Agent.objects.create(source=source, agent_id=agent_id)

    def messages(self, device: Device, ages_days, *, agent=None, session="s1", text="hi"):
        sess, _ = ChatSession.objects.get_or_create(
            source=device.source, device=device, session_id=session
        )
        made = []
        for age in ages_days:
            made.append(
                ChatMessage.objects.create(
                    source=device.source,
                    source_id=self.next_id,
                    match_key=f"k{self.next_id}",
                    device=device,
                    session=sess,
                    agent=agent,
                    chat_type=1,
                    role="user",
                    content=f"{text} {self.next_id}",
                    created_at=NOW - timedelta(days=age),
                )
            )
            self.next_id += 1
        _recount(device, sess)
        return made


def _recount(device: Device, session: ChatSession) -> None:
    from chathistory.retention.purge import recount_devices, recount_sessions

    recount_sessions([session.pk])
    recount_devices([device.pk], refresh_text=True)


def policy(**fields) -> RetentionPolicy:
    return policies.retention_policy_create(data=fields)


@pytest.fixture
def history():
    return History()


# --- masks ---------------------------------------------------------------------------------


def test_the_built_in_masks():
    text = (
        "call 13812345678 or +86 139-1234-5678; ID 11010519491231002X; "
        "mail alice.b@example.com.cn; card 4111 1111 1111 1111; not a card 4111111111111112; "
        "order 20240101123456"
    )
    assert redact(text) == (
        "call 138****5678 or +86 139****5678; ID 110***********002X; "
        "mail a***@example.com.cn; card ************1111; not a card 4111111111111112; "
        "order 20240101123456"
    )
    assert redact(redact(text)) == redact(text)  # masking twice changes nothing more
    assert (
        redact("我的手机号是13812345678，邮箱bob@qq.com")
        == "我的手机号是138****5678，邮箱b***@qq.com"
    )
    assert redact("13812345678", built_in=["email"]) == "13812345678"
    assert redact("客户编号123456", built_in=[], patterns=[r"客户编号\d{6}"]) == "[redacted]"


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",  # nested repeats: exponential backtracking
        r"(\w+\s?)*$",
        "(a|a)*$",  # alternatives inside a repeat
        "(x+x+)+y",
        r"\d+\d+x",  # two unbounded repeats: polynomial
        r"(a)\1",  # back-reference
        "a{1,5000}",
        "(",  # not a regular expression
        "[z-a]",
        "a*",  # matches the empty text: would mask between every character
        r"\b",
        "x" * 201,
    ],
)
def test_unsafe_or_bad_patterns_are_refused(pattern):
    assert pattern_problem(pattern) is not None
    with pytest.raises(ValidationError):
        policy(scope="source", source="esp32", redact_patterns=[pattern])
    assert not RetentionPolicy.objects.exists()


def test_safe_patterns_are_accepted():
    for pattern in [r"客户编号\d{6}", r"(?i)token=[a-z0-9]{8,64}", r"secret-\w+"]:
        assert pattern_problem(pattern) is None


# --- which policy applies -------------------------------------------------------------------


def test_device_beats_agent_beats_source_and_disabled_policies_do_not_count(history):
    agent = history.agent("a1")
    kitchen = history.device("aa:bb:cc:00:00:01", agent=agent)
    history.device("aa:bb:cc:00:00:02", agent=agent)
    source = policy(scope="source", source="esp32", keep_messages_days=30, redact_email=True)
    by_agent = policy(scope="agent", agent=agent, keep_messages_days=7)
    by_device = policy(scope="device", device=kitchen, redact_phone=True)
    rules = source_rules("esp32")
    assert rules.rule_for(mac=kitchen.mac, agent_id="a1").policy_id == by_device.pk
    assert rules.rule_for(mac="aa:bb:cc:00:00:02", agent_id="a1").policy_id == by_agent.pk
    assert rules.rule_for(mac="aa:bb:cc:00:00:09", agent_id="other").policy_id == source.pk
    assert rules.rule_for(mac=None, agent_id=None).policy_id == source.pk
    # The device's policy applies whole: no e-mail mask there, its source's notwithstanding.
    device_rule = rules.rule_for(mac=kitchen.mac, agent_id="a1")
    assert device_rule.redactor("x@example.com 13812345678") == "x@example.com 138****5678"
    assert source_rules("lab").empty  # another source: nothing applies
    policies.retention_policy_update(policy_id=by_device.pk, data={"enabled": False})
    rules = source_rules("esp32")
    assert rules.rule_for(mac=kitchen.mac, agent_id="a1").policy_id == by_agent.pk


def test_one_policy_per_scope_and_scopes_name_what_they_need(history):
    device = history.device("aa:bb:cc:00:00:01")
    policy(scope="device", device=device, keep_messages_days=5)
    with pytest.raises(ValidationError) as error:
        policy(scope="device", device=device, keep_messages_days=9)
    assert "scope" in error.value.message_dict
    with pytest.raises(ValidationError):
        policy(scope="agent")  # no agent
    with pytest.raises(ValidationError):
        policy(scope="source", source="no-such-source")
    with pytest.raises(ValidationError):
        policy(scope="source", source="esp32", keep_messages_days=-1)
    with pytest.raises(ValidationError):
        policy(scope="source", source="esp32", keep_messages_days=10**9)
    assert RetentionPolicy.objects.count() == 1


# --- the pass -------------------------------------------------------------------------------


def test_the_pass_deletes_exactly_what_each_policy_says_in_batches(history):
    agent, other = history.agent("a1"), history.agent("a2")
    kept_forever = history.device("aa:bb:cc:00:00:01", agent=agent)  # device: forever
    by_agent = history.device("aa:bb:cc:00:00:02", agent=agent)  # agent: 10 days
    by_source = history.device("aa:bb:cc:00:00:03", agent=other)  # source: 30 days
    lab = history.device("aa:bb:cc:00:00:03", source="lab")  # no policy at all
    ages = [1, 5, 12, 20, 40, 400]
    history.messages(kept_forever, ages, agent=agent)
    history.messages(by_agent, ages, agent=agent)
    history.messages(by_agent, ages, agent=agent, session="s2")
    history.messages(by_source, ages, agent=other)
    history.messages(lab, ages)
    policy(scope="source", source="esp32", keep_messages_days=30)
    policy(scope="agent", agent=agent, keep_messages_days=10)
    policy(scope="device", device=kept_forever, keep_messages_days=None)

    dry = retention_apply(trigger="command", dry_run=True)
    assert dry.messages == 4 + 4 + 2
    assert ChatMessage.objects.count() == 30  # a dry run deletes nothing
    assert not RetentionRun.objects.exists()

    result = retention_apply(trigger="command", batch_size=3)
    assert result.messages == 10
    ages_left = {
        device.mac + device.source: sorted(
            round((NOW - m.created_at).total_seconds() / 86400)
            for m in ChatMessage.objects.filter(device=device)
        )
        for device in (kept_forever, by_agent, by_source, lab)
    }
    assert ages_left == {
        kept_forever.mac + "esp32": ages,
        by_agent.mac + "esp32": [1, 1, 5, 5],
        by_source.mac + "esp32": [1, 5, 12, 20],
        lab.mac + "lab": ages,
    }
    run = RetentionRun.objects.get()
    assert (run.messages_deleted, run.trigger, run.action) == (10, "command", "apply")
    # Counters recomputed from what is left.
    for device in Device.objects.all():
        messages = ChatMessage.objects.filter(device=device)
        newest = messages.order_by("-created_at").first()
        assert device.message_count == messages.count()
        assert device.last_message_at == newest.created_at
        assert device.last_message == preview(newest.content)
    for session in ChatSession.objects.all():
        messages = ChatMessage.objects.filter(session=session).order_by("created_at")
        assert session.message_count == messages.count()
        assert session.started_at == messages.first().created_at
        assert session.last_message_at == messages.last().created_at
    assert retention_apply(trigger="command").messages == 0  # nothing more to do


def test_audio_goes_with_its_message_and_on_its_own_schedule(history, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    device = history.device("aa:bb:cc:00:00:01")
    young, middle, old = history.messages(device, [1, 10, 100])
    files = {}
    for message in (young, middle, old):
        audio = ChatAudio(message=message, size=4)
        audio.file.save(f"m{message.pk}.wav", ContentFile(b"RIFF"), save=True)
        files[message.pk] = audio.file.storage.path(audio.file.name)
    policy(scope="device", device=device, keep_messages_days=50, keep_audio_days=5)
    result = retention_apply(trigger="nightly")
    assert (result.messages, result.audio) == (1, 2)  # old: message + audio; middle: audio
    assert list(ChatMessage.objects.filter(device=device).order_by("id")) == [young, middle]
    assert list(ChatAudio.objects.values_list("message_id", flat=True)) == [young.pk]
    assert ChatMessage.objects.get(pk=middle.pk).audio_id is None
    import os

    assert [os.path.exists(files[pk]) for pk in (young.pk, middle.pk, old.pk)] == [
        True,
        False,
        False,
    ]


def test_governed_messages_leave_the_more_specific_policies_out(history):
    agent = history.agent("a1")
    a, b = history.device("aa:bb:cc:00:00:01", agent=agent), history.device("aa:bb:cc:00:00:02")
    history.messages(a, [1], agent=agent)
    history.messages(b, [1])
    history.messages(b, [1], agent=agent)
    source = policy(scope="source", source="esp32", keep_messages_days=3)
    by_agent = policy(scope="agent", agent=agent, keep_messages_days=3)
    by_device = policy(scope="device", device=a, keep_messages_days=3)
    assert governed_messages(by_device).count() == 1
    assert governed_messages(by_agent).count() == 1  # b's message of the agent
    assert governed_messages(source).count() == 1  # b's message without agent


def test_redacting_stored_text_masks_only_where_a_policy_masks(history):
    masked, untouched = history.device("aa:bb:cc:00:00:01"), history.device("aa:bb:cc:00:00:02")
    history.messages(masked, [1, 2], text="call 13812345678")
    history.messages(untouched, [1], text="call 13812345678")
    policy(scope="device", device=masked, redact_phone=True)
    result = retention_apply(trigger="command", redact_existing=True, batch_size=1)
    assert result.redacted == 2
    assert {m.content.split(" ")[1] for m in ChatMessage.objects.filter(device=masked)} == {
        "138****5678"
    }
    assert ChatMessage.objects.get(device=untouched).content.startswith("call 13812345678")
    masked.refresh_from_db()
    assert "138****5678" in masked.last_message
    assert retention_apply(trigger="command", redact_existing=True).redacted == 0


# --- deleting a device's history ------------------------------------------------------------


def test_deleting_a_device_history_needs_its_identifier_and_touches_nothing_else(history):
    gone, kept = history.device("aa:bb:cc:00:00:01"), history.device("aa:bb:cc:00:00:02")
    history.messages(gone, [1, 2, 3])
    history.messages(gone, [1], session="s2")
    history.messages(kept, [1, 2])
    for wrong in ("", "AA:BB:CC:00:00:01 ", "aa:bb:cc:00:00:02", None, ["aa:bb:cc:00:00:01"]):
        with pytest.raises(ConfirmationMismatch):
            device_history_delete(device=gone, confirm=wrong, user="u", trigger="api")
    assert ChatMessage.objects.count() == 6
    deleted = device_history_delete(
        device=gone, confirm=gone.mac, user="alice", trigger="api", batch_size=2
    )
    assert (deleted.messages, deleted.sessions) == (4, 2)
    assert ChatMessage.objects.filter(device=gone).count() == 0
    assert ChatMessage.objects.filter(device=kept).count() == 2
    assert not ChatSession.objects.filter(device=gone).exists()
    gone.refresh_from_db()
    assert (gone.message_count, gone.last_message_at, gone.last_message) == (0, None, "")
    tombstone = DeletedDevice.objects.get()
    assert (tombstone.mac, tombstone.deleted_by, tombstone.messages_deleted) == (
        gone.mac,
        "alice",
        4,
    )
    run = RetentionRun.objects.get()
    assert (run.action, run.user, run.messages_deleted) == ("delete-device", "alice", 4)


def test_the_command_applies_dry_runs_and_deletes_with_confirmation(history):
    device = history.device("aa:bb:cc:00:00:01")
    history.messages(device, [1, 100])
    policy(scope="source", source="esp32", keep_messages_days=30)
    out = StringIO()
    call_command("chat_retention", "apply", "--dry-run", stdout=out)
    assert "would delete 1 messages" in out.getvalue()
    assert ChatMessage.objects.count() == 2
    call_command("chat_retention", "apply", stdout=StringIO())
    assert ChatMessage.objects.count() == 1
    out = StringIO()
    call_command("chat_retention", "delete-device", "AA-BB-CC-00-00-01", stdout=out)
    assert "--confirm aa:bb:cc:00:00:01" in out.getvalue()  # without --confirm: nothing goes
    assert ChatMessage.objects.count() == 1
    with pytest.raises(CommandError):
        call_command("chat_retention", "delete-device", str(device.pk), "--confirm", "nope")
    with pytest.raises(CommandError):
        call_command("chat_retention", "delete-device", "ff:ff:ff:ff:ff:ff", "--confirm", "x")
    with pytest.raises(CommandError):
        call_command("chat_retention", "apply", "--batch-size", "0")
    call_command(
        "chat_retention", "delete-device", str(device.pk), "--confirm", device.mac, stdout=out
    )
    assert ChatMessage.objects.count() == 0
    assert RetentionRun.objects.filter(action="delete-device", trigger="command").count() == 1


def test_the_nightly_beat_entry_is_made_once_and_edits_stick():
    from django_celery_beat.models import PeriodicTask

    from chathistory.retention.schedule import (
        RETENTION_TASK_NAME,
        ensure_retention_schedule,
        nightly_time,
    )

    ensure_retention_schedule()
    task = PeriodicTask.objects.get(name=RETENTION_TASK_NAME)
    assert task.task == "chathistory.retention.tasks.apply_retention"
    assert (task.crontab.hour, task.crontab.minute) == ("3", "30")
    task.enabled = False
    task.save()
    ensure_retention_schedule()
    assert not PeriodicTask.objects.get(name=RETENTION_TASK_NAME).enabled
    for bad in ("25:00", "3", "ab:cd", "03:60"):
        with pytest.raises(ValueError):
            nightly_time(bad)


def test_the_task_runs_the_pass(history):
    from chathistory.retention.tasks import apply_retention

    device = history.device("aa:bb:cc:00:00:01")
    history.messages(device, [1, 100])
    policy(scope="device", device=device, keep_messages_days=30)
    result = apply_retention.apply().get()
    assert result["messages"] == 1
    assert RetentionRun.objects.get().trigger == "nightly"


def test_the_report_hook_masks_as_the_policy_says_and_a_bad_stored_pattern_is_left_out(history):
    from chathistory.retention.policy import redact_for, source_rules

    agent = history.agent("a1")
    device = history.device("aa:bb:cc:00:00:01", agent=agent)
    policy(scope="agent", agent=agent, redact_phone=True)
    masked = redact_for(source="esp32", mac=device.mac, agent_id="a1", text="13812345678")
    assert masked == "138****5678"
    assert redact_for(source="esp32", mac=device.mac, agent_id=None, text="13812345678") == (
        "13812345678"
    )
    # A row written around the services (raw SQL, a fixture) with an unsafe pattern: the
    # sync leaves that pattern out instead of compiling it.
    RetentionPolicy.objects.create(
        scope="source", source="esp32", redact_patterns="(a+)+$\nsecret-\\w+"
    )
    rule = source_rules("esp32").rule_for(mac=None, agent_id=None)
    assert rule.redactor("secret-abc " + "a" * 40 + "!") == "[redacted] " + "a" * 40 + "!"


def test_each_batch_keeps_the_counters_right_before_the_final_recount(history, monkeypatch):
    """The per-batch counters (decrement, first/last times re-read) are exact on their own:
    the pass's closing recount is switched off here."""
    from chathistory.retention import purge

    monkeypatch.setattr(purge, "recount", lambda **kwargs: None)
    device, other = history.device("aa:bb:cc:00:00:01"), history.device("aa:bb:cc:00:00:02")
    history.messages(device, [1, 50, 60, 70], session="s1")
    history.messages(device, [80, 90], session="s2")
    history.messages(other, [2, 3], session="s1")
    old = ChatMessage.objects.filter(created_at__lt=NOW - timedelta(days=40))
    assert purge.delete_messages(old, batch_size=2).messages == 5
    for row in Device.objects.all():
        messages = ChatMessage.objects.filter(device=row)
        assert row.message_count == messages.count()
        newest = messages.order_by("-created_at").first()
        assert row.last_message_at == (newest.created_at if newest else None)
    for session in ChatSession.objects.all():
        messages = ChatMessage.objects.filter(session=session).order_by("created_at")
        assert session.message_count == messages.count()
        assert session.started_at == (messages.first().created_at if messages else None)
        assert session.last_message_at == (messages.last().created_at if messages else None)
