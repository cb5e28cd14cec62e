"""API tokens (`Authorization: Token <key>`): made, listed and revoked per user.

django-rest-knox keeps a SHA-512 digest of each key and the key's first 15
characters (to find the row): the key is shown once, when it is made, and
cannot be read back from the database or a backup. A token is named by the
first 8 characters of its key (TOKEN_ID_LENGTH) in lists and to revoke it.
Tokens last HUB_API_TOKEN_TTL_DAYS (0: until revoked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS

TOKEN_ID_LENGTH = 8


@dataclass(frozen=True)
class ApiTokenInfo:
    id: str
    created: datetime
    expiry: datetime | None

    @property
    def expired(self) -> bool:
        return self.expiry is not None and self.expiry <= timezone.now()


def api_token_create(*, user) -> str:
    """A new token for `user`; returns its key, which is stored only as a digest."""
    _, key = AuthToken.objects.create(user=user)
    return key


def api_token_list(*, user) -> list[ApiTokenInfo]:
    return [
        ApiTokenInfo(
            id=token.token_key[:TOKEN_ID_LENGTH], created=token.created, expiry=token.expiry
        )
        for token in AuthToken.objects.filter(user=user).order_by("created")
    ]


def api_token_revoke(*, user, token_id: str) -> None:
    """Delete the one token of `user` whose key starts with `token_id`; ValueError otherwise."""
    token_id = token_id.strip()
    if len(token_id) < TOKEN_ID_LENGTH:
        raise ValueError(f"a token id has at least {TOKEN_ID_LENGTH} characters (see the list)")
    # The row keeps the key's first CONSTANTS.TOKEN_KEY_LENGTH characters: compare those.
    prefix = token_id[: CONSTANTS.TOKEN_KEY_LENGTH]
    matching = list(AuthToken.objects.filter(user=user, token_key__startswith=prefix))
    if not matching:
        raise ValueError(f"{user.get_username()} has no token {token_id}")
    if len(matching) > 1:
        raise ValueError(f"{token_id} names several tokens; give more characters of the key")
    matching[0].delete()


def api_token_revoke_all(*, user) -> int:
    """Delete every token of `user`; returns how many there were."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
