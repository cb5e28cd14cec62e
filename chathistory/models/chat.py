"""The hub's own copy of the xiaozhi-esp32-server chat history, and the sync bookkeeping.

Messages come from two places: the periodic sync (they carry `source_id`,
the source row's id, unique per source) and the real-time report endpoint
(they carry `report_key`, unique per report, until the sync links them to
their source row). See docs/chat-history.md for how the two are matched.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from xiaozhi_hub.history import RESOLUTIONS

from .audio_storage import chat_audio_storage, chat_audio_upload_to
from .source import DEFAULT_SOURCE


class Role(models.TextChoices):
    USER = "user", _("user")
    AGENT = "agent", _("agent")
    TOOL = "tool", _("tool")


class SyncStatus(models.TextChoices):
    NEVER = "never", _("never ran")
    IN_PROGRESS = "in_progress", _("in progress")
    SUCCESS = "success", _("success")
    FAILED = "failed", _("failed")


class RunStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("in progress")
    SUCCESS = "success", _("success")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")
    # Its worker died (no heartbeat for HUB_SYNC_CLAIM_TIMEOUT); closed by the run that took over.
    ABANDONED = "abandoned", _("abandoned")


class Agent(models.Model):
    # An agent is named by its source's key and its id there (two servers may share ids).
    # db_default: the raw upserts' INSERT half (counters.py) names no source.
    source = models.CharField(
        _("source"), max_length=32, default=DEFAULT_SOURCE, db_default=DEFAULT_SOURCE
    )
    agent_id = models.CharField(_("agent id"), max_length=32)
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    # ai_agent.chat_history_conf: 0 none, 1 text, 2 text + audio.
    chat_history_conf = models.SmallIntegerField(_("chat history conf"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        constraints = [
            models.UniqueConstraint(fields=["source", "agent_id"], name="agent_source_key")
        ]

    def __str__(self) -> str:
        return self.name or self.agent_id


class Device(models.Model):
    # A device is (source, key): two servers with the same MAC are two devices.
    # db_default: the raw upserts' INSERT half (counters.py) names no source.
    source = models.CharField(
        _("source"), max_length=32, default=DEFAULT_SOURCE, db_default=DEFAULT_SOURCE
    )
    # The device's key (chathistory/devices.py): a MAC as aa:bb:cc:dd:ee:ff, or whatever
    # other identifier the source holds. Pages, URLs and channels use the primary key.
    mac = models.CharField(
        _("device identifier"),
        max_length=50,
        help_text=_("A MAC address as aa:bb:cc:dd:ee:ff, or the identifier the source holds."),
    )
    alias = models.CharField(_("alias"), max_length=255, blank=True, default="")
    board = models.CharField(_("board"), max_length=255, blank=True, default="")
    firmware = models.CharField(_("firmware"), max_length=255, blank=True, default="")
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("agent")
    )
    last_connected_at = models.DateTimeField(_("last connected at"), null=True, blank=True)
    last_message_at = models.DateTimeField(
        _("last message at"), null=True, blank=True, db_index=True
    )
    last_message = models.CharField(_("last message"), max_length=200, blank=True, default="")
    message_count = models.PositiveIntegerField(_("message count"), default=0)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        constraints = [models.UniqueConstraint(fields=["source", "mac"], name="device_source_key")]

    def __str__(self) -> str:
        return f"{self.alias} ({self.mac})" if self.alias else self.mac


class ChatSession(models.Model):
    """One connection of one device: session ids are only unique per device.

    A session without a device holds the source's messages that name no device.
    """

    # db_default: the raw upserts' INSERT half (counters.py) names no source.
    source = models.CharField(
        _("source"), max_length=32, default=DEFAULT_SOURCE, db_default=DEFAULT_SOURCE
    )
    session_id = models.CharField(_("session id"), max_length=50, db_index=True)
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("device")
    )
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("agent")
    )
    title = models.CharField(_("title"), max_length=255, blank=True, default="")
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    message_count = models.PositiveIntegerField(_("message count"), default=0)

    class Meta:
        verbose_name = _("chat session")
        verbose_name_plural = _("chat sessions")
        constraints = [
            models.UniqueConstraint(fields=["device", "session_id"], name="session_device_key")
        ]
        indexes = [models.Index(fields=["device", "last_message_at"], name="session_device_last")]

    def __str__(self) -> str:
        return self.title or self.session_id


class ChatMessage(models.Model):
    class Origin(models.TextChoices):
        SYNC = "sync", _("sync")
        REPORT = "report", _("report")

    source = models.CharField(_("source"), max_length=32, default=DEFAULT_SOURCE)
    source_id = models.BigIntegerField(_("source id"), null=True, blank=True)
    # sha256 of the report's identity: a retried report is recognised by it.
    report_key = models.CharField(
        _("report key"), max_length=64, null=True, blank=True, unique=True
    )
    # sha256 of device|session|chat_type|content: pairs a report with its source row.
    # Not indexed: pairs are looked up by device and time (msg_device_time), and a
    # random 64-character key would make every insert of a backfill a random B-tree write.
    match_key = models.CharField(_("match key"), max_length=64)
    origin = models.CharField(
        _("origin"), max_length=8, choices=Origin.choices, default=Origin.SYNC
    )
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("device")
    )
    session = models.ForeignKey(
        ChatSession, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("session")
    )
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("agent")
    )
    chat_type = models.SmallIntegerField(
        _("chat type"),
    )
    role = models.CharField(_("role"), max_length=8, choices=Role.choices)
    content = models.TextField(_("content"), blank=True, default="")
    speaker = models.CharField(_("speaker"), max_length=255, null=True, blank=True)  # noqa: DJ001 - NULL: absent
    tool_name = models.CharField(_("tool name"), max_length=255, null=True, blank=True)  # noqa: DJ001 - NULL: absent
    tool_arguments = models.JSONField(_("tool arguments"), null=True, blank=True)
    audio_id = models.CharField(_("audio id"), max_length=32, null=True, blank=True)  # noqa: DJ001 - NULL: absent
    created_at = models.DateTimeField(
        _("created at"),
    )  # milliseconds kept (DATETIME(6) on MySQL)
    stored_at = models.DateTimeField(_("stored at"), auto_now_add=True)

    class Meta:
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id"], name="message_source_row")
        ]
        # Each index serves a query (docs/chat-history.md, "Indexes"), and each costs every
        # insert a B-tree write: (device, session, created_at) served none that
        # msg_device_time or msg_session_time does not, and is gone. msg_agent_time stays
        # for the agent foreign key (InnoDB wants an index that starts with its column).
        indexes = [
            models.Index(fields=["device", "created_at", "id"], name="msg_device_time"),
            models.Index(fields=["session", "created_at", "id"], name="msg_session_time"),
            models.Index(fields=["agent", "created_at"], name="msg_agent_time"),
            models.Index(fields=["created_at", "id"], name="msg_time"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class ChatAudio(models.Model):
    """The audio of one message, in the hub's storage (chathistory/audio/, docs/audio.md).

    Copied from the source (its audio mode: with every sync, or on first play), handed
    over by the manager-api source, or reported (HUB_KEEP_AUDIO). Rows reported before
    audio moved to the storage keep their bytes in `data`. `missing`: the source held no
    audio for the message when asked (not asked again by the sync; a play asks again).
    """

    message = models.OneToOneField(
        ChatMessage, on_delete=models.CASCADE, verbose_name=_("message"), related_name="audio"
    )
    source = models.CharField(_("source"), max_length=32, default=DEFAULT_SOURCE)
    file = models.FileField(
        _("file"),
        storage=chat_audio_storage,
        upload_to=chat_audio_upload_to,
        max_length=255,
        blank=True,
    )
    # Only rows reported before audio went to the storage (0008_audio): new rows use `file`.
    data = models.BinaryField(_("data"), null=True, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    content_type = models.CharField(_("content type"), max_length=50, default="audio/wav")
    missing = models.BooleanField(_("missing in the source"), default=False)
    copied_at = models.DateTimeField(_("copied at"), default=timezone.now)

    class Meta:
        verbose_name = _("chat audio")
        verbose_name_plural = _("chat audio")

    def __str__(self) -> str:
        return f"audio of message {self.message_id}"


class SyncState(models.Model):
    """One per source: where the sync is, and who is running it right now."""

    source = models.CharField(_("source"), max_length=32, unique=True)
    # Highest source id copied; ids below it that were missing are SyncGap rows.
    cursor = models.BigIntegerField(_("cursor"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=SyncStatus.choices, default=SyncStatus.NEVER
    )
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True, default="")
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")
    rows_read_total = models.BigIntegerField(_("rows read total"), default=0)
    rows_written_total = models.BigIntegerField(_("rows written total"), default=0)
    rows_skipped_total = models.BigIntegerField(_("rows skipped total"), default=0)
    runs_total = models.PositiveIntegerField(_("runs total"), default=0)
    # Fingerprints of the small source tables (devices, agents) last copied.
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)

    class Meta:
        verbose_name = _("sync state")
        verbose_name_plural = _("sync states")

    def __str__(self) -> str:
        return f"{self.source} @ {self.cursor} ({self.status})"


class SyncGap(models.Model):
    """Source ids below the cursor that were missing when the cursor passed them.

    AUTO_INCREMENT ids are taken at INSERT but become visible at COMMIT, in any
    order: a missing id may still be an open transaction. Each tick re-reads the
    open gaps; a gap nobody filled for HUB_SYNC_GAP_GRACE seconds was a rollback
    or a delete, and is closed.
    """

    source = models.CharField(_("source"), max_length=32)
    first_id = models.BigIntegerField(
        _("first id"),
    )
    last_id = models.BigIntegerField(
        _("last id"),
    )
    seen_at = models.DateTimeField(
        _("seen at"),
    )

    class Meta:
        verbose_name = _("sync gap")
        verbose_name_plural = _("sync gaps")
        indexes = [models.Index(fields=["source", "first_id"], name="gap_source_first")]

    def __str__(self) -> str:
        return f"{self.source} {self.first_id}..{self.last_id}"


class SyncRun(models.Model):
    source = models.CharField(_("source"), max_length=32, default=DEFAULT_SOURCE)
    trigger = models.CharField(
        _("trigger"), max_length=16, default="beat"
    )  # beat, manual, command, api
    full = models.BooleanField(_("full"), default=False)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.IN_PROGRESS
    )
    cursor_start = models.BigIntegerField(_("cursor start"), default=0)
    cursor_end = models.BigIntegerField(_("cursor end"), default=0)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    rows_skipped = models.PositiveIntegerField(_("rows skipped"), default=0)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} {self.status}"


class SkippedRow(models.Model):
    """A source row the sync could not copy; recorded once and skipped, never retried blindly."""

    source = models.CharField(_("source"), max_length=32, default=DEFAULT_SOURCE)
    source_id = models.BigIntegerField(
        _("source id"),
    )
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("run")
    )
    reason = models.TextField(
        _("reason"),
    )
    raw = models.TextField(_("raw"), blank=True, default="")
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("skipped row")
        verbose_name_plural = _("skipped rows")
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id"], name="skipped_source_row")
        ]

    def __str__(self) -> str:
        return f"{self.source} #{self.source_id}: {self.reason[:60]}"


# --- History: per-minute and per-hour counters (chathistory/history_services.py) ---------


class SyncBucket(models.Model):
    """The sync runs of one source that ended in one minute or hour.

    `lag_max_seconds` is the worst staleness seen when a run ended: seconds
    since the start of the newest successful run (a successful run has copied
    what the source held when it started). NULL: no run has succeeded yet.
    """

    source = models.CharField(_("source"), max_length=32, default=DEFAULT_SOURCE)
    resolution = models.CharField(
        _("resolution"), max_length=8, choices=[(r, r) for r in RESOLUTIONS]
    )
    start = models.DateTimeField(_("start"), help_text=_("The bucket's first moment (UTC)."))
    runs_ok = models.PositiveIntegerField(_("runs ok"), default=0)
    runs_failed = models.PositiveIntegerField(_("runs failed"), default=0)
    rows_read = models.PositiveBigIntegerField(_("rows read"), default=0)
    rows_written = models.PositiveBigIntegerField(_("rows written"), default=0)
    lag_max_seconds = models.FloatField(_("lag max seconds"), null=True, blank=True)

    class Meta:
        verbose_name = _("sync bucket")
        verbose_name_plural = _("sync buckets")
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "resolution", "start"], name="sync_bucket_unique"
            )
        ]
        indexes = [models.Index(fields=["resolution", "start"], name="sync_bucket_age")]

    def __str__(self) -> str:
        return f"{self.source} {self.resolution} {self.start:%Y-%m-%d %H:%M}"


class IngestBucket(models.Model):
    """Reports answered in one minute (UTC): stored, or refused with an error."""

    start = models.DateTimeField(
        _("start"), unique=True, help_text=_("The minute's first moment (UTC).")
    )
    accepted = models.PositiveIntegerField(_("accepted"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)

    class Meta:
        verbose_name = _("ingest bucket")
        verbose_name_plural = _("ingest buckets")
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} +{self.accepted} -{self.rejected}"
