"""The roles: the data migration makes the three groups with exactly roles.py's
permissions, and the administrators hold everything the two apps define."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from xiaozhi_hub.access import roles
from xiaozhi_hub.access.permissions import denial

pytestmark = pytest.mark.django_db

migration = importlib.import_module("xiaozhi_hub.access.migrations.0001_roles")


def group_permissions(name: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=name).permissions.select_related("content_type")
    }


def test_the_migration_makes_the_three_groups_with_the_roles_permissions():
    # Run the migration's own function on the historical models it was written for,
    # into a database without the groups (and without the permissions of a fresh one).
    Group.objects.filter(name__in=roles.ROLES).delete()
    Permission.objects.filter(content_type__app_label__in=["endpoints", "chathistory"]).delete()
    state = MigrationExecutor(connection).loader.project_state(("access", "0001_roles"))

    class Editor:  # what RunPython hands over that create_roles uses
        pass

    Editor.connection = connection
    migration.create_roles(state.apps, Editor)

    assert set(migration.ROLES) == set(roles.ROLES)
    for name, expected in migration.ROLES.items():
        assert group_permissions(name) == set(expected), name


def test_after_every_migration_the_groups_hold_exactly_the_roles_permissions():
    # 0001 made the groups with the lists of its day; later migrations of the apps add
    # their new models' permissions (xiaozhi_hub/access/grants.py). The test database is
    # migrated: together they must give exactly roles.py.
    for name, expected in roles.ROLES.items():
        assert group_permissions(name) == set(expected), name


def test_administrators_hold_every_permission_of_both_apps_and_only_they_run_commands():
    defined = {
        f"{model._meta.app_label}.{action}_{model._meta.model_name}"
        for label in ("endpoints", "chathistory")
        for model in apps.get_app_config(label).get_models()
        for action in model._meta.default_permissions
    } | {"endpoints.run_commands"}
    # A new model (or permission) needs its place in the roles, and a data migration.
    assert defined <= set(roles.ADMINISTRATOR_PERMISSIONS)
    assert roles.RUN_COMMANDS not in roles.OPERATOR_PERMISSIONS
    assert set(roles.VIEWER_PERMISSIONS) < set(roles.OPERATOR_PERMISSIONS)
    assert set(roles.OPERATOR_PERMISSIONS) < set(roles.ADMINISTRATOR_PERMISSIONS)
    assert all(p.split(".")[1].startswith("view_") for p in roles.VIEWER_PERMISSIONS)
    # Nobody but superusers manages accounts or tokens: that would be a way to become them.
    everything = set(roles.ADMINISTRATOR_PERMISSIONS)
    assert not {p for p in everything if p.split(".")[0] in ("auth", "knox", "authtoken")}


def test_a_refusal_names_the_permission_and_the_role_that_has_it():
    reason = denial("POST /api/mcp-servers", ["endpoints.add_mcpserver", "auth.add_user"])
    assert reason == (
        "permission denied: POST /api/mcp-servers needs the permissions "
        "endpoints.add_mcpserver (Hub administrators have it), auth.add_user (superusers only)"
    )
