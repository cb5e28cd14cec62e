from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.config_file import (
    IGNORED,
    IMPORTED,
    MAPPED,
    WARNING,
    ConfigFileError,
    config_search_paths,
    find_config_file,
    parse_config_file,
)
from endpoints.options import BY_FIELD
from endpoints.services.config_import import config_import
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = (
        "Import xiaozhi-client's configuration (xiaozhi.config.json, .json5 or .jsonc): "
        "endpoints, connection options, MCP servers and tool switches, ModelScope key, "
        "platforms and custom tools, all of it in one transaction, or nothing. Prints what "
        "was imported, mapped and ignored, section by section."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            nargs="?",
            help="the file; without it, the one xiaozhi-client would read",
        )

    @in_terminal_language
    def handle(self, *args, path, **options):
        if path is None:
            found = find_config_file()
            if found is None:
                looked = ", ".join(str(p) for p in config_search_paths())
                raise CommandError(_("no configuration file found; looked for %(paths)s")
                                   % {"paths": looked})  # fmt: skip
            path = str(found)
            self.stdout.write(_("Reading %(path)s") % {"path": path})
        try:
            report = config_import(parsed=parse_config_file(path))
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
        labels = {
            IMPORTED: _("imported"),
            MAPPED: _("mapped"),
            IGNORED: _("ignored"),
            WARNING: _("warning"),
        }
        order = list(labels)
        for section, lines in report.ordered():
            self.stdout.write(self.style.MIGRATE_HEADING(f"{section}:"))
            for kind, text in sorted(lines, key=lambda line: order.index(line[0])):
                line = f"  {labels[kind]}: {text}"
                self.stdout.write(self.style.WARNING(line) if kind == WARNING else line)
        self.stdout.write(self.style.SUCCESS(_("Imported %(path)s.") % {"path": path}))
