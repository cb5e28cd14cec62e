"""Adding permissions of new models to the roles, from a data migration.

The roles' groups are made by migrations/0001_roles.py with a frozen list; a
later migration that adds models adds their permissions with `grant` (and
takes them away again with `revoke` when migrated backwards). Each migration
passes its own frozen lists: this module only does the work, and its
behaviour must stay stable because old migrations call it.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions

# role name -> "app_label.codename" permissions
Grants = dict[str, tuple[str, ...]]


def _permissions(apps, alias: str, names: tuple[str, ...]) -> list:
    Permission = apps.get_model("auth", "Permission")
    rows = []
    for name in names:
        app_label, codename = name.split(".")
        try:
            rows.append(
                Permission.objects.using(alias).get(
                    content_type__app_label=app_label, codename=codename
                )
            )
        except Permission.DoesNotExist:
            raise RuntimeError(f"permission {name} does not exist") from None
    return rows


def grant(apps, schema_editor, grants: Grants) -> None:
    """Add each role's permissions (made now if `migrate` has not made them yet)."""
    alias = schema_editor.connection.alias
    # Permissions are made after `migrate` (post_migrate); in one run they do not exist yet.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, names in grants.items():
        group, _ = Group.objects.using(alias).get_or_create(name=role)
        group.permissions.add(*_permissions(apps, alias, names))


def revoke(apps, schema_editor, grants: Grants) -> None:
    alias = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in grants.items():
        group = Group.objects.using(alias).filter(name=role).first()
        if group is None:
            continue
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.remove(
                *Permission.objects.using(alias).filter(
                    content_type__app_label=app_label, codename=codename
                )
            )
