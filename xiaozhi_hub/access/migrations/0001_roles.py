"""The three roles (groups) and their model permissions.

A frozen copy of xiaozhi_hub/access/roles.py as it was when this migration was
written: migrations must not import code that changes later. A later change
of the roles is a new migration. tests/access/test_roles.py checks the copy.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ENDPOINT_MODELS = (
    "endpoints.endpoint",
    "endpoints.endpointevent",
    "endpoints.endpointlivestatus",
    "endpoints.mcpserver",
    "endpoints.pooloptions",
    "endpoints.poolworker",
    "endpoints.tool",
    "endpoints.toolcall",
)
CHAT_MODELS = (
    "chathistory.agent",
    "chathistory.chataudio",
    "chathistory.chatmessage",
    "chathistory.chatsession",
    "chathistory.device",
    "chathistory.skippedrow",
    "chathistory.syncgap",
    "chathistory.syncrun",
    "chathistory.syncstate",
)


def _model_permissions(models, actions):
    return tuple(
        f"{model.split('.')[0]}.{action}_{model.split('.')[1]}"
        for model in models
        for action in actions
    )


VIEWER_PERMISSIONS = _model_permissions(ENDPOINT_MODELS + CHAT_MODELS, ("view",))
OPERATOR_PERMISSIONS = VIEWER_PERMISSIONS + (
    "endpoints.change_endpoint",
    "endpoints.change_pooloptions",
    "endpoints.change_tool",
    "endpoints.add_toolcall",
    "chathistory.add_syncrun",
)
ADMINISTRATOR_PERMISSIONS = _model_permissions(
    ENDPOINT_MODELS + CHAT_MODELS, ("add", "change", "delete", "view")
) + ("endpoints.run_commands", "admin.view_logentry")

ROLES = {
    "Hub viewers": VIEWER_PERMISSIONS,
    "Hub operators": OPERATOR_PERMISSIONS,
    "Hub administrators": ADMINISTRATOR_PERMISSIONS,
}


def create_roles(apps, schema_editor):
    # Permissions are made after `migrate` (post_migrate); a fresh database has none yet.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in ROLES.items():
        group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)
        rows = []
        for permission in permissions:
            app_label, codename = permission.split(".")
            try:
                rows.append(
                    Permission.objects.using(schema_editor.connection.alias).get(
                        content_type__app_label=app_label, codename=codename
                    )
                )
            except Permission.DoesNotExist:
                raise RuntimeError(
                    f"role {name!r}: permission {permission} does not exist"
                ) from None
        group.permissions.set(rows)


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("endpoints", "0003_access_and_option_bounds"),
        ("chathistory", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
