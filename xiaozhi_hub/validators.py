"""Validators shared by the apps' models and config readers (Django's ValidationError)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

URL_MAX_LENGTH = 2000


def validate_url(value: str, *, schemes: tuple[str, ...], kind: str, mask) -> None:
    """A URL of one of `schemes` ("not `kind` URL" if not; `kind` translated by the
    caller) with a host; `mask` keeps its secrets out of the errors."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValidationError(
            _("not a valid URL: %(url)s"), code="invalid", params={"url": mask(value)}
        ) from None
    if parts.scheme.lower() not in schemes:
        raise ValidationError(
            _("not %(kind)s URL: %(url)s"),
            code="scheme",
            params={"kind": kind, "url": mask(value)},
        )
    if not parts.hostname:
        raise ValidationError(
            _("the URL has no host: %(url)s"), code="host", params={"url": mask(value)}
        )
    if len(value) > URL_MAX_LENGTH:
        raise ValidationError(
            _("the URL is longer than %(limit)s characters"),
            code="length",
            params={"limit": URL_MAX_LENGTH},
        )
