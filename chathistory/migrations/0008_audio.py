"""Chat audio in the hub's storage (chathistory/audio/, docs/audio.md).

ChatAudio gains its file in the "chat_audio" storage, its source, size, content type,
when it was copied and whether the source lacked it. Rows reported before keep their
bytes in `data` (now optional) and are served from there; their size and source are
filled in here.
"""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Length

import chathistory.models.audio_storage


def fill_reported(apps, schema_editor):
    ChatAudio = apps.get_model("chathistory", "ChatAudio")
    ChatMessage = apps.get_model("chathistory", "ChatMessage")
    ChatAudio.objects.filter(data__isnull=False).update(
        size=Length("data"),
        source=Subquery(ChatMessage.objects.filter(pk=OuterRef("message_id")).values("source")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [("chathistory", "0007_manager_api")]

    operations = [
        migrations.AddField(
            model_name="chataudio",
            name="content_type",
            field=models.CharField(default="audio/wav", max_length=50, verbose_name="content type"),
        ),
        migrations.AddField(
            model_name="chataudio",
            name="copied_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="copied at"),
        ),
        migrations.AddField(
            model_name="chataudio",
            name="file",
            field=models.FileField(
                blank=True,
                max_length=255,
                storage=chathistory.models.audio_storage.chat_audio_storage,
                upload_to=chathistory.models.audio_storage.chat_audio_upload_to,
                verbose_name="file",
            ),
        ),
        migrations.AddField(
            model_name="chataudio",
            name="missing",
            field=models.BooleanField(default=False, verbose_name="missing in the source"),
        ),
        migrations.AddField(
            model_name="chataudio",
            name="size",
            field=models.PositiveIntegerField(default=0, verbose_name="size (bytes)"),
        ),
        migrations.AddField(
            model_name="chataudio",
            name="source",
            field=models.CharField(default="esp32", max_length=32, verbose_name="source"),
        ),
        migrations.AlterField(
            model_name="chataudio",
            name="data",
            field=models.BinaryField(blank=True, null=True, verbose_name="data"),
        ),
        migrations.RunPython(fill_reported, migrations.RunPython.noop),
    ]
