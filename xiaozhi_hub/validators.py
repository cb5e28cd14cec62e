"""Validators shared by the apps' models and config readers (Django's ValidationError)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

URL_MAX_LENGTH = 2000


def validate_url(value: str, *, schemes: tuple[str, ...], kind: str, mask) -> None:
    """A URL of one of `schemes` ("not `kind` URL" if not) with a host; `mask` keeps
    its secrets out of the errors."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValidationError(
            "not a valid URL: %(url)s", code="invalid", params={"url": mask(value)}
        ) from None
    if parts.scheme.lower() not in schemes:
        raise ValidationError(
            f"not {kind} URL: %(url)s", code="scheme", params={"url": mask(value)}
        )
    if not parts.hostname:
        raise ValidationError(
            "the URL has no host: %(url)s", code="host", params={"url": mask(value)}
        )
    if len(value) > URL_MAX_LENGTH:
        raise ValidationError(f"the URL is longer than {URL_MAX_LENGTH} characters", code="length")
