"""`makemessages` for the hub's catalogs: `manage.py makemessages -l zh_Hans` (and
`-d djangojs`) updates locale/zh_Hans/LC_MESSAGES/django.po and djangojs.po.

It also finds the console's t(), tf() and tn() calls (static/console/i18n.js wraps
Django's JavaScript catalog in three short names), and skips what is not the hub's
interface (the venv, tests, benchmarks, generated files). tests/i18n checks that the
committed catalogs hold every message this finds.
"""

from django.core.management.commands.makemessages import Command as DjangoMakeMessages

CONSOLE_KEYWORDS = ["--keyword=t", "--keyword=tf", "--keyword=tn:1,2"]
NOT_THE_INTERFACE = [".venv", "htmlcov", "artifacts", "tests", "bench", "data", "backups"]


class Command(DjangoMakeMessages):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *NOT_THE_INTERFACE]
        if options["domain"] == "djangojs":
            self.xgettext_options = [*self.xgettext_options, *CONSOLE_KEYWORDS]
        return super().handle(*args, **options)
