"""The manager-api source's per-session state (RemoteSession); written by hand."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("chathistory", "0006_sources")]

    operations = [
        migrations.CreateModel(
            name="RemoteSession",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source", models.CharField(max_length=32, verbose_name="source")),
                ("agent_id", models.CharField(max_length=64, verbose_name="agent id")),
                ("session_id", models.CharField(max_length=100, verbose_name="session id")),
                (
                    "chat_count",
                    models.IntegerField(
                        default=-1,
                        help_text="chatCount when last copied (-1: never copied).",
                        verbose_name="messages",
                    ),
                ),
                (
                    "remote_created_at",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text=(
                            "createdAt of the session list when last copied, as the server "
                            "wrote it."
                        ),
                        max_length=40,
                        verbose_name="last message at (remote)",
                    ),
                ),
                (
                    "title",
                    models.CharField(blank=True, default="", max_length=255, verbose_name="title"),
                ),
                ("failures", models.PositiveIntegerField(default=0, verbose_name="failures")),
                ("last_error", models.TextField(blank=True, default="", verbose_name="last error")),
                (
                    "next_retry_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="next retry at"),
                ),
                (
                    "copied_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="copied at"),
                ),
                (
                    "copied_until",
                    models.DateTimeField(
                        blank=True,
                        help_text=(
                            "The newest message copied of this session: a later read of the "
                            "session skips older ones, so messages deleted in the hub are not "
                            "copied again."
                        ),
                        null=True,
                        verbose_name="copied until",
                    ),
                ),
                (
                    "copied_last",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="Source ids of the messages copied with exactly that time.",
                        verbose_name="copied at that time",
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
            ],
            options={
                "verbose_name": "remote session",
                "verbose_name_plural": "remote sessions",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("source", "agent_id", "session_id"), name="remote_session_key"
                    )
                ],
                "indexes": [
                    models.Index(fields=["source", "failures"], name="remote_session_failed")
                ],
            },
        ),
    ]
