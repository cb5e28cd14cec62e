"""The identities every access test uses: anonymous, staff without permissions, the
three roles, and a superuser (all active staff but the first)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from xiaozhi_hub.access import roles

IDENTITIES = ("anonymous", "staff", "viewer", "operator", "administrator", "superuser")
ROLE_OF = {
    "viewer": roles.VIEWERS,
    "operator": roles.OPERATORS,
    "administrator": roles.ADMINISTRATORS,
}


def role_group(name: str) -> Group:
    """The role's group, as the migration makes it (rebuilt if a transactional test's
    flush removed it)."""
    group, created = Group.objects.get_or_create(name=name)
    if created or not group.permissions.exists():
        group.permissions.set(permissions(roles.ROLES[name]))
    return group


def permissions(names) -> list[Permission]:
    rows = []
    for name in names:
        app_label, codename = name.split(".")
        rows.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return rows


def make_user(identity: str, *, suffix: str = ""):
    """The user of an identity (None for anonymous)."""
    if identity == "anonymous":
        return None
    user = get_user_model().objects.create_user(
        f"{identity}{suffix}",
        password="pw",
        is_staff=True,
        is_superuser=identity == "superuser",
    )
    if identity in ROLE_OF:
        user.groups.add(role_group(ROLE_OF[identity]))
    return user


def user_with(*names: str, username: str = "custom"):
    """A staff user holding exactly these permissions (for checks the roles cannot show)."""
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(permissions(names))
    return user
