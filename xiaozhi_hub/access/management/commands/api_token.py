"""`manage.py api_token create|list|revoke <username>`: the API tokens of one user."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from xiaozhi_hub.access.tokens import (
    api_token_create,
    api_token_list,
    api_token_revoke,
    api_token_revoke_all,
)
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = (
        "Make (the key is printed once), list (no keys) or revoke the API tokens of a user. "
        "Scripts send the key as `Authorization: Token <key>`."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token; its key is printed once")
        create.add_argument("username")
        listing = actions.add_parser("list", help="the user's tokens: id, created, expiry")
        listing.add_argument("username")
        revoke = actions.add_parser("revoke", help="delete one token (by its id) or --all")
        revoke.add_argument("username")
        which = revoke.add_mutually_exclusive_group(required=True)
        which.add_argument("token_id", nargs="?", help="the id shown by `list`")
        which.add_argument("--all", action="store_true", help="every token of the user")

    @in_terminal_language
    def handle(self, *args, action, username, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(_("no user %(name)r") % {"name": username}) from None
        if action == "create":
            key = api_token_create(user=user)
            # The key alone on stdout, so that scripts can capture it.
            self.stdout.write(key)
            self.stderr.write(
                _("Store this key now: it is kept only as a hash and not shown again.")
            )
        elif action == "list":
            self._list(user)
        elif options["all"]:
            count = api_token_revoke_all(user=user)
            revoked = ngettext(
                "Revoked %(count)s token of %(name)s.",
                "Revoked %(count)s tokens of %(name)s.",
                count,
            )
            self.stdout.write(revoked % {"count": count, "name": username})
        else:
            try:
                api_token_revoke(user=user, token_id=options["token_id"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            revoked = _("Revoked token %(id)s of %(name)s.")
            self.stdout.write(revoked % {"id": options["token_id"], "name": username})

    def _list(self, user):
        tokens = api_token_list(user=user)
        if not tokens:
            self.stdout.write(_("%(name)s has no API tokens.") % {"name": user.get_username()})
            return
        for token in tokens:
            if token.expiry is None:
                expiry = _("never expires")
            elif token.expired:
                expiry = _("expired %(time)s") % {"time": f"{token.expiry:%Y-%m-%d %H:%M}"}
            else:
                expiry = _("expires %(time)s") % {"time": f"{token.expiry:%Y-%m-%d %H:%M}"}
            created = _("created %(time)s") % {"time": f"{token.created:%Y-%m-%d %H:%M}"}
            self.stdout.write(f"{token.id}  {created}  {expiry}")
