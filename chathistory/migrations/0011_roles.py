"""The roles' permissions on the models of sources, the manager-api source, retention and
search (0006-0010): a frozen copy of what xiaozhi_hub/access/roles.py added with them.

View for every role; everything for administrators. Operators start syncs of any source
with the add_syncrun they already hold.
"""

from django.db import migrations

from xiaozhi_hub.access.grants import grant, revoke

MODELS = (
    "source",
    "remotesession",
    "retentionpolicy",
    "retentionrun",
    "deleteddevice",
    "searchgram",
    "searchindexstate",
)
VIEW = tuple(f"chathistory.view_{model}" for model in MODELS)
GRANTS = {
    "Hub viewers": VIEW,
    "Hub operators": VIEW,
    "Hub administrators": tuple(
        f"chathistory.{action}_{model}"
        for model in MODELS
        for action in ("add", "change", "delete", "view")
    ),
}


def add_to_roles(apps, schema_editor):
    grant(apps, schema_editor, GRANTS)


def remove_from_roles(apps, schema_editor):
    revoke(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("chathistory", "0010_search"),
        ("access", "0001_roles"),
    ]

    operations = [migrations.RunPython(add_to_roles, remove_from_roles)]
