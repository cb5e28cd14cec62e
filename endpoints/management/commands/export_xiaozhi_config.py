import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.selectors.config_export import xiaozhi_config_export
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = (
        "Write the configuration as the TypeScript client's xiaozhi.config.json. Secrets "
        "(endpoint tokens, server URLs' keys, env and header values) are masked unless "
        "--include-secrets is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")
        parser.add_argument(
            "--include-secrets", action="store_true", help="write the real tokens, env and headers"
        )

    @in_terminal_language
    def handle(self, *args, output, include_secrets, **options):
        data = xiaozhi_config_export(include_secrets=include_secrets)
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        if output:
            path = Path(output)
            try:
                path.write_text(text, encoding="utf-8")
                if include_secrets:
                    path.chmod(0o600)  # it holds tokens
            except OSError as exc:
                raise CommandError(
                    _("cannot write %(path)s: %(reason)s")
                    % {"path": output, "reason": exc.strerror}
                ) from None
        else:
            self.stdout.write(text, ending="")
        if include_secrets:
            self.stderr.write(self.style.WARNING(_("warning: the export contains secrets")))
        else:
            self.stderr.write(
                self.style.WARNING(
                    _(
                        "warning: secrets are masked as *** (pass --include-secrets for a "
                        "complete file); importing this file here keeps the secrets already stored"
                    )
                )
            )
        if output:
            self.stderr.write(_("Wrote %(path)s.") % {"path": output})
