"""The text-search side index (chathistory/search/, docs/search.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("chathistory", "0009_retention")]

    operations = [
        migrations.CreateModel(
            name="SearchGram",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "gram",
                        "message_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("gram", models.BigIntegerField(verbose_name="gram")),
                ("message_id", models.BigIntegerField(verbose_name="message id")),
            ],
            options={
                "verbose_name": "search gram",
                "verbose_name_plural": "search grams",
            },
        ),
        migrations.CreateModel(
            name="SearchIndexState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        default="messages", max_length=32, unique=True, verbose_name="name"
                    ),
                ),
                ("cursor", models.BigIntegerField(default=0, verbose_name="cursor")),
                (
                    "messages_indexed",
                    models.BigIntegerField(default=0, verbose_name="messages indexed"),
                ),
                (
                    "rebuilt_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="rebuilt at"),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
            ],
            options={
                "verbose_name": "search index state",
                "verbose_name_plural": "search index states",
            },
        ),
    ]
