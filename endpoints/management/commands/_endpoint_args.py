"""Shared pieces of the endpoint management commands (not a command itself)."""

from __future__ import annotations

import sys
from argparse import ArgumentParser

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from endpoints.models import Endpoint
from endpoints.options import CONNECTION_OPTIONS
from endpoints.pool.config import PEER_PROFILES

# --health-check-interval etc.; durations in seconds on the command line.
OPTION_FLAGS = {spec.field: "--" + spec.field.replace("_", "-") for spec in CONNECTION_OPTIONS}


def add_option_arguments(parser: ArgumentParser) -> None:
    for spec in CONNECTION_OPTIONS:
        flag = OPTION_FLAGS[spec.field]
        if spec.kind == "bool":
            parser.add_argument(
                flag, dest=spec.field, action="store_true", default=None, help=spec.help
            )
            parser.add_argument(
                "--no-" + flag[2:], dest=spec.field, action="store_false", default=None
            )
        elif spec.kind == "choice":
            parser.add_argument(flag, dest=spec.field, choices=spec.choices, help=spec.help)
        elif spec.kind == "count":
            parser.add_argument(flag, dest=spec.field, type=int, metavar="N", help=spec.help)
        else:
            parser.add_argument(
                flag, dest=spec.field, type=float, metavar="SECONDS", help=spec.help
            )


def add_profile_argument(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--peer-profile",
        choices=PEER_PROFILES,
        help=(
            "auto (default): a URL with /mcp_endpoint/mcp/ is a self-hosted relay, any other "
            "a broker; broker: xiaozhi.me; relay: self-hosted mcp-endpoint-server"
        ),
    )


def option_values(options: dict) -> dict:
    """The model fields the option flags (and --peer-profile) set."""
    values = {
        spec.field: options[spec.field]
        for spec in CONNECTION_OPTIONS
        if options.get(spec.field) is not None
    }
    if options.get("peer_profile") is not None:
        values["peer_profile"] = options["peer_profile"]
    return values


def read_url(value: str) -> str:
    """`-` reads the URL from stdin, so the token stays out of the process list."""
    if value == "-":
        return sys.stdin.readline().strip()
    return value


def resolve_endpoint(value: str) -> Endpoint:
    """An endpoint by id or by name."""
    query = Endpoint.objects.filter(pk=int(value)) if value.isdigit() else Endpoint.objects.none()
    endpoint = query.first() or Endpoint.objects.filter(name=value).first()
    if endpoint is None:
        raise CommandError(_("no endpoint with id or name %(value)r") % {"value": value})
    return endpoint


def validation_error(exc: ValidationError) -> CommandError:
    if hasattr(exc, "error_dict"):
        lines = [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
        return CommandError("; ".join(lines))
    return CommandError(" ".join(exc.messages))


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table, column widths fitted to the content."""
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
