from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.config_file import ConfigFileError, parse_config_file
from endpoints.options import BY_FIELD
from endpoints.services.config_import import config_import
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = (
        "Import endpoints, connection options, MCP servers (mcpServers) and tool switches "
        "(mcpServerConfig) from the TypeScript client's xiaozhi.config.json: all of it in "
        "one transaction, or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="path of xiaozhi.config.json")

    @in_terminal_language
    def handle(self, *args, path, **options):
        try:
            parsed = parse_config_file(path)
            report = config_import(parsed=parsed)
        except ConfigFileError as exc:
            raise CommandError(
                _("%(path)s: %(problem)s; nothing was imported") % {"path": path, "problem": exc}
            ) from None
        except ValidationError as exc:
            fields = getattr(exc, "message_dict", {"": exc.messages})
            problems = "; ".join(
                f"connectionOptions.{BY_FIELD[f].key}: {' '.join(m)}" if f in BY_FIELD
                else " ".join(m)
                for f, m in fields.items()
            )  # fmt: skip
            raise CommandError(
                _("%(path)s: %(problem)s; nothing was imported")
                % {"path": path, "problem": problems}
            ) from None
        for warning in report["warnings"]:
            self.stderr.write(self.style.WARNING(_("warning: %(warning)s") % {"warning": warning}))
        for label in ("created", "updated", "unchanged"):
            names = report[label]
            if names:
                self.stdout.write(f"{label} {len(names)}: {', '.join(names)}")
        for label in ("created", "updated", "unchanged"):
            names = report[f"servers_{label}"]
            if names:
                self.stdout.write(f"MCP servers {label} {len(names)}: {', '.join(names)}")
        if report["tools"]:
            self.stdout.write(f"tool settings applied: {report['tools']}")
        if report["options"]:
            keys = ", ".join(BY_FIELD[f].key for f in report["options"])
            self.stdout.write(f"connection options updated: {keys}")
        self.stdout.write(
            self.style.SUCCESS(
                _("Imported %(new)s new, %(updated)s updated endpoint(s) from %(path)s.")
                % {"new": len(report["created"]), "updated": len(report["updated"]), "path": path}
            )
        )
